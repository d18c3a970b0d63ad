"""The reference in docs/ exists, every pointer to it resolves, and it covers what the code has.

When a key, column or metric is added to the code, these tests name the docs section to add.
"""

from __future__ import annotations

import ast
import re
from datetime import datetime
from pathlib import Path

import pytest

import tokenflood_tui
from tokenflood_tui.run import budget
from tokenflood_tui.run.coordinator import RunOutcome
from tokenflood_tui.outputs.folder import CSV_COLUMNS, ResultsFolder
from tokenflood_tui.run.runner import build_summary
from tokenflood_tui.run.schedule import plan_phases
from tokenflood_tui.specs import (EndpointSpec, LoadTestSuite, LoadType, ObservationSuite,
                                  SearchSuite, Slo,
                                  parse_run_suite)
from tokenflood_tui.run.stats import PhaseAccumulator
from tokenflood_tui.metrics.summary import METRICS

REPO = Path(tokenflood_tui.__file__).resolve().parents[1]
DOCS = REPO / "docs"
SOURCES = sorted([*(REPO / "tokenflood_tui").rglob("*.py"), *(REPO / "tests").rglob("*.py"),
                  REPO / "README.md", REPO / "AGENTS.md", REPO / "CHANGELOG.md"])
DOC_LINK = re.compile(r"docs/([a-z_]+\.md)(?:#([\w-]+))?")
MD_LINK = re.compile(r"\]\(([a-z_]+\.md)?(?:#([\w-]+))?\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(doc: str) -> set[str]:
    text = (DOCS / doc).read_text(encoding="utf-8")
    return {slug(m) for m in re.findall(r"^#+ (.+)$", text, re.M)}


def doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_the_reference_is_in_the_repository():
    assert {p.name for p in DOCS.glob("*.md")} >= {"config.md", "metrics.md", "results.md",
                                                   "architecture.md"}


def test_no_citation_of_a_spec_that_is_not_in_the_repository():
    spec_section = "SPEC " + "§"
    cited = [f"{p.relative_to(REPO)}:{n}" for p in SOURCES
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if spec_section in line]
    assert cited == []


def test_every_pointer_into_docs_resolves():
    links = [(p.relative_to(REPO), m.group(1), m.group(2)) for p in SOURCES
             for m in DOC_LINK.finditer(p.read_text(encoding="utf-8"))]
    for page in DOCS.glob("*.md"):   # the docs' own links: other.md#x and #x
        links += [(page.relative_to(REPO), m.group(1) or page.name, m.group(2))
                  for m in MD_LINK.finditer(page.read_text(encoding="utf-8"))]
    assert len(links) > 40
    broken = [(where, target, anchor) for where, target, anchor in links
              if not (DOCS / target).is_file() or (anchor and anchor not in anchors(target))]
    assert broken == []


@pytest.mark.parametrize("model", [EndpointSpec, LoadTestSuite, ObservationSuite, SearchSuite],
                         ids=lambda m: m.__name__)
def test_config_doc_has_a_section_per_key(model):
    sections = anchors("config.md")
    assert [key for key in model.model_fields if key not in sections] == []


@pytest.mark.parametrize("model", [LoadType, Slo], ids=lambda m: m.__name__)
def test_config_doc_names_every_nested_key(model):
    text = doc("config.md")
    assert [key for key in model.model_fields if f"`{key}" not in text] == []


def test_metrics_doc_defines_every_metric_and_phase_statistic():
    text, sections = doc("metrics.md"), anchors("metrics.md")
    assert [m for m in METRICS if f"`{m}" not in text] == []
    phase = PhaseAccumulator(1, 2.0, 1.0, 2, [50.0]).stats()
    missing = [k for k in type(phase).model_fields
               if k not in METRICS and k not in sections and f"`{k}`" not in text]
    assert missing == []


def test_results_doc_lists_every_csv_column_in_order():
    text = doc("results.md")
    rows = re.findall(r"^\| `(\w+)` \|", text.split("## requests.csv columns", 1)[1]
                      .split("\n## ", 1)[0], re.M)
    assert rows == CSV_COLUMNS


def test_results_doc_describes_every_summary_key(tmp_path):
    suite = parse_run_suite("name: d\nrequests_per_second_rates: [2]\ntest_length_in_seconds: 1\n"
                            "load_types:\n- {prompt_length: 10, output_length: 2}\n")
    endpoint = EndpointSpec(provider="hosted_vllm", model="m", base_url="http://127.0.0.1:9/v1")
    folder = ResultsFolder(tmp_path, suite, endpoint, datetime.now())
    acc = PhaseAccumulator(1, 2.0, 1.0, 2, suite.percentiles)
    outcome = RunOutcome("completed", None, [acc.stats()], "openai", "none", 0)
    summary = build_summary(suite, endpoint, budget.estimate(suite, endpoint, plan_phases(suite)),
                            outcome, folder, datetime.now())
    folder.close()
    text = doc("results.md")
    head = text.split("## summary.json keys", 1)[1].split("\n## ", 1)[0]
    headings = " ".join(re.findall(r"^### (.+)$", head, re.M))
    data = summary.model_dump(mode="json")      # what summary.json holds
    keys = [*data, *data["budget"], *data["phases"][0]]
    assert [k for k in keys if not re.search(rf"(^|[\s,`]){k}([\s,`]|$)", headings)
            and f"`{k}`" not in head] == []


MAP_INDENT = 20     # in the module map, a name starts before this column; a description after


def module_map() -> set[str]:
    """The paths docs/architecture.md's module map names: a tree of names, two spaces a level,
    each line's first word a file or a folder (ending in /); longer lines go on at the
    description's column."""
    block = doc("architecture.md").split("\n## Modules\n", 1)[1].split("```", 2)[1]
    listed, folders = set(), []          # folders: (indent, name) down to the current line
    for line in block.splitlines():
        name = line.split(maxsplit=1)[0] if line.strip() else ""
        indent = len(line) - len(line.lstrip())
        if not name or indent >= MAP_INDENT:
            continue
        while folders and folders[-1][0] >= indent:
            folders.pop()
        path = "/".join([f for _, f in folders] + [name.rstrip("/")])
        listed.add(path)
        if name.endswith("/"):
            folders.append((indent, name.rstrip("/")))
    return listed


def only_a_docstring(path: Path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return all(isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) for s in body)


def test_the_module_map_names_every_module_and_no_gone_one():
    package = REPO / "tokenflood_tui"
    modules = {p.relative_to(REPO).as_posix() for p in package.rglob("*.py")
               if not (p.name == "__init__.py" and only_a_docstring(p))}
    packages = {p.parent.relative_to(REPO).as_posix() for p in package.rglob("__init__.py")}
    listed = module_map()
    assert len(listed) > 100
    assert sorted((modules | packages) - listed) == [], \
        "add these to the module map in docs/architecture.md#modules, one line each"
    gone = {p for p in listed if p.startswith("tokenflood_tui/") and p.endswith(".py")} - modules
    assert sorted(gone) == [], "gone from the code, still in docs/architecture.md#modules"
