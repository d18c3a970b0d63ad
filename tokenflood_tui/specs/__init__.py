"""The two config files — endpoint spec and run suite — with errors that name file, key path and line.

The modules, each with one job (none imports `specs` itself, so they form no cycle):
  loader     the strict YAML reader and the located errors, for any pydantic model
  endpoint   EndpointSpec (endpoint.yml)
  suites     LoadType, Slo and the run suites (run.yml), with the run's limits
  files      reading and writing the two files
  secrets    what counts as a secret, env-var references, scrubbing
  providers  litellm's provider names and which client serves them
The models and the file functions are re-exported here, so call sites say `from ..specs import X`.
"""

from .endpoint import EndpointSpec, slugify
from .files import (detect_kind, load_endpoint, load_run_suite, parse_endpoint, parse_run_suite,
                    suite_model, to_yaml)
from .suites import (MAX_REQUESTS_PER_RUN, MAX_SEED, SLO_METRICS, SUITE_KINDS, LoadTestSuite,
                     LoadType, ObservationSuite, RunSuite, SearchSuite, Slo)

__all__ = [
    "EndpointSpec", "slugify",
    "detect_kind", "load_endpoint", "load_run_suite", "parse_endpoint", "parse_run_suite",
    "suite_model", "to_yaml",
    "MAX_REQUESTS_PER_RUN", "MAX_SEED", "SLO_METRICS", "SUITE_KINDS", "LoadTestSuite", "LoadType",
    "ObservationSuite", "RunSuite", "SearchSuite", "Slo",
]
