"""`tokenflood profile`: from real traffic to a token-length suite (docs/profile.md).

  read       the files: plain prompts, chat JSONL, OpenAI request logs; the format guessed
  count      token counts with the endpoint's tokenizer and chat template; shared prefixes
  fitting    load types or a session type fitted to the counts, and how close they come
  suite      the suite written, with its header, within the budget's limits
  show       the profile as printed, fitted to the terminal
  compare    a run's sent lengths against the profile
  command    the command itself
"""
