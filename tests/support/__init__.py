"""What tests share (the fixtures that use these are in tests/conftest.py):

- tokenflood: the real `tokenflood` command, run to its end (`run_tokenflood`) or left running
  (`start`); `write` a file; `other_than_lateness` of a run's warnings
- specs: an endpoint.yml for a base URL, a run.yml from a few keys
- simulators: `simulator_fixture(...)`, a module's simulator in one line
- journal: follow a run through its journal.jsonl
- net: `free_port`
- screens: a Textual app's screen as text lines (Pilot tests)
- terminal: a tmux session as a terminal (keys in, the screen out)
- proxies: a TCP proxy that holds requests or drops connections (a server going away)
- unfinished: runs stopped by a signal mid-way, for the resume tests
- observations: observation results (a real fixture folder, synthetic days-long runs)
- compared_runs: two real results folders to compare
- dask_cluster: a real Dask cluster on 127.0.0.1
"""
