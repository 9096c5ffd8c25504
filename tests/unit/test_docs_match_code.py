"""
The reference docs are checked against the code they describe:

* the ``[hokusai]`` options: one table (docs/configuration.md), names and defaults of ``get_provider_info``;
* the commands: every option, default and exit code in docs/configuration.md against the argument parsers;
* the operators and the sensor: every parameter table against the ``__init__`` signatures (inherited keyword
  arguments included), defaults, and "templated" exactly for the ``template_fields``;
* quoted log lines and error texts: a fenced block marked ``log`` holds lines the provider writes, and an inline
  span starting with one of the provider's exception names (```QueuePublishError: ...```) is a text it raises;
  ``<placeholder>`` and ``…`` stand for the variable parts, and the rest must be found, in order, in one string of
  the package's source (its own placeholders, ``%s`` or ``{...}``, match anything);
* no development history in the user docs: issue numbers, commit ids, who ran what on which machine when.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_hokusai import exceptions
from airflow_provider_hokusai.cli import reconcile, webhook
from airflow_provider_hokusai.get_provider_info import get_provider_info

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PACKAGE = REPO / "airflow_provider_hokusai"
CONFIGURATION = DOCS / "configuration.md"
USER_DOCS = [REPO / "README.md", *sorted(DOCS.glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def section(page: Path, heading: str) -> str:
    """The text under the heading ``heading`` (any level) up to the next heading of the same or a higher level."""
    text = page.read_text()
    match = re.search(rf"^(#+) {re.escape(heading)}\n", text, re.MULTILINE)
    assert match, f"{page.name}: no heading {heading!r}"
    level = len(match.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(text, match.end())
    return text[match.end() : end.start() if end else len(text)]


def table(text: str) -> list[dict[str, str]]:
    """The first Markdown table in ``text``, as rows keyed by its header cells."""
    match = re.search(r"^\|.*\n(?:^\|.*\n?)+", text, re.MULTILINE)
    assert match, "no table"
    lines = match.group(0).splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        rows.append(dict(zip(header, cells, strict=False)))
    return rows


def code(cell: str) -> str:
    """The first backticked value of a cell: ```--dry-run``` → ``--dry-run``."""
    found = re.search(r"`([^`]+)`", cell)
    assert found, f"no code in {cell!r}"
    return found.group(1)


# [hokusai] options


def test_every_hokusai_option_is_in_the_one_table_with_its_default() -> None:
    options = get_provider_info()["config"]["hokusai"]["options"]
    rows = table(section(CONFIGURATION, "Provider configuration: `[hokusai]`"))
    documented = {code(row["option"]): row["default"] for row in rows}
    assert set(documented) == set(options)
    for name, default in documented.items():
        expected = options[name]["default"]
        assert default == (f"`{expected}`" if expected else "empty"), name


def test_no_other_page_tables_the_hokusai_options() -> None:
    names = get_provider_info()["config"]["hokusai"]["options"]
    elsewhere = [
        f"{page.name}: {name}"
        for page in USER_DOCS
        if page != CONFIGURATION
        for name in names
        if re.search(rf"^\| `{name}` \|", page.read_text(), re.MULTILINE)
    ]
    assert elsewhere == []


# Commands


def options_of(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {
        action.option_strings[-1]: action
        for action in parser._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    }


def subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices[name]  # type: ignore[no-any-return]


COMMANDS = {
    "hokusai-reconcile": reconcile.build_parser(),
    "hokusai-webhook setup": subcommand(webhook.build_parser(), "setup"),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_a_command_is_documented_with_its_default(command: str) -> None:
    parser = COMMANDS[command]
    rows = table(section(CONFIGURATION, f"The `{command}` command"))
    documented = {code(row["option"]): row["default"] for row in rows}
    actions = options_of(parser)
    assert set(documented) == set(actions)
    for flag, action in actions.items():
        if action.required:
            assert documented[flag] == "required", flag
        elif isinstance(action.default, bool):
            assert documented[flag] == ("on" if action.default else "off"), flag
        elif action.default != argparse.SUPPRESS and isinstance(action.default, str | int | float):
            assert documented[flag] == f"`{action.default}`", flag


def exit_codes(epilog: str) -> dict[str, str]:
    return dict(re.findall(r"^  (\d)  (.+)$", epilog, re.MULTILINE))


@pytest.mark.parametrize("command", COMMANDS)
def test_exit_codes_are_documented_as_the_command_says(command: str) -> None:
    said = exit_codes(COMMANDS[command].epilog or "")
    rows = table(section(CONFIGURATION, f"Exit codes of `{command.split(maxsplit=1)[0]}`"))
    assert {code(row["exit code"]): row["meaning"] for row in rows} == said
    assert set(said) == {"0", "1", "2"}


# Operators and sensor


def operator_classes() -> dict[str, type]:
    from airflow_provider_hokusai.operators.mlflow import RegisterModelOperator
    from airflow_provider_hokusai.operators.model_ready import (
        PublishModelReadyOperator,
        ReconcileAnnouncementsOperator,
    )
    from airflow_provider_hokusai.sensors.mlflow import MLflowBaselineSensor

    classes = [MLflowBaselineSensor, RegisterModelOperator, PublishModelReadyOperator, ReconcileAnnouncementsOperator]
    return {cls.__name__: cls for cls in classes}


def own_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword arguments of ``cls`` and of its bases up to Airflow's own classes (``**kwargs`` excluded)."""
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("airflow_provider_hokusai"):
            break
        if "__init__" in vars(klass):
            for name, parameter in inspect.signature(klass.__init__).parameters.items():  # type: ignore[misc]
                if name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD:
                    found.setdefault(name, parameter)
    return found


@pytest.mark.parametrize("name", ["MLflowBaselineSensor", "RegisterModelOperator", "PublishModelReadyOperator",
                                  "ReconcileAnnouncementsOperator"])  # fmt: skip
def test_parameter_table_matches_the_signature_and_template_fields(name: str) -> None:
    cls = operator_classes()[name]
    heading = f"`{name}` (`{cls.__module__}`)"
    rows = {code(row["parameter"]): row for row in table(section(CONFIGURATION, heading))}
    parameters = own_parameters(cls)
    assert set(rows) == set(parameters)
    templated = set(cls.template_fields)  # type: ignore[attr-defined]
    for parameter, row in rows.items():
        assert (row["templated"] == "yes") == (parameter in templated), f"{parameter}: templated"
        default = parameters[parameter].default
        if default is inspect.Parameter.empty:
            assert row["default"] == "required", parameter
            continue
        try:
            documented = ast.literal_eval(code(row["default"]))
        except (ValueError, SyntaxError):
            continue  # a configuration reference such as `[operators] default_deferrable`
        assert documented == default, f"{parameter}: default"


# Quoted log lines and error texts


def source_strings() -> list[str]:
    """Every string the package writes, its placeholders (``%s``, ``{...}``) replaced by ``\\0``."""
    strings: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                strings.append(
                    "".join(v.value if isinstance(v, ast.Constant) else "\0" for v in node.values)  # type: ignore[misc]
                )
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.append(re.sub(r"%[-+ #0-9.]*[sdrfi]", "\0", node.value))
    return strings


SOURCE_STRINGS = source_strings()
PLACEHOLDER = re.compile(r"<[^<>\s][^<>]*>|…|\.\.\.")
EXCEPTION_NAMES = sorted(
    name for name, value in vars(exceptions).items() if isinstance(value, type) and issubclass(value, Exception)
)


def quoted_texts() -> Iterator[tuple[str, str]]:
    """(page, text) of every log line in a ``log`` block and every inline ```<OurError>: ...``` span."""
    error_span = re.compile(rf"`((?:{'|'.join(EXCEPTION_NAMES)}): [^`]+)`")
    for page in USER_DOCS:
        text = page.read_text()
        for language, body in FENCE.findall(text):
            if language == "log":
                for line in body.splitlines():
                    if line.strip():
                        yield page.name, line.strip()
        prose = FENCE.sub("", text)
        for span in error_span.findall(prose):
            yield page.name, span.split(": ", 1)[1]


def written_by_the_package(quoted: str) -> bool:
    literals = [part.strip() for part in PLACEHOLDER.split(quoted)]
    pattern = ".*?".join(re.escape(part) for part in literals if part)
    return any(re.search(pattern, string, re.DOTALL) for string in SOURCE_STRINGS)


QUOTED = list(quoted_texts())


def test_docs_quote_log_lines_and_errors() -> None:
    assert len(QUOTED) >= 5  # the convention is in use


@pytest.mark.parametrize(("page", "quoted"), QUOTED, ids=[f"{p}:{q[:40]}" for p, q in QUOTED])
def test_quoted_log_line_or_error_is_written_by_the_package(page: str, quoted: str) -> None:
    assert written_by_the_package(quoted), f"{page} quotes {quoted!r}, which the package never writes"


def test_a_text_the_package_never_writes_is_caught() -> None:
    assert written_by_the_package("Announced <model> v<version> as message <id> on <backend> queue <queue>")
    assert not written_by_the_package("Publish to <backend> queue <queue> failed (try 1 of 3): <error>; retrying")


# No development history in user docs

HISTORY = {
    "an issue number": re.compile(r"\bissues? #?\d+", re.IGNORECASE),
    "a pull request": re.compile(r"\b(PR|pull request) #?\d+", re.IGNORECASE),
    "a commit id": re.compile(
        r"\bcommits? \(?[0-9a-f]{7,40}\b|(?<![-\w/.:\"'])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])"
        r"[0-9a-f]{7,12}(?![-\w/.:\"'])"
    ),
    "who ran what": re.compile(
        r"\b(other )?engineers? (ran|were running|running)\b|\bwhile others\b|\bother people's\b", re.IGNORECASE
    ),
    "when it was measured": re.compile(r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\b"),
    "a session story": re.compile(r"\b(this|that|a previous|an earlier|the last) session\b", re.IGNORECASE),
    "a load average": re.compile(r"\bload average\b", re.IGNORECASE),
}


@pytest.mark.parametrize("page", USER_DOCS, ids=[p.name for p in USER_DOCS])
def test_user_docs_carry_no_development_history(page: Path) -> None:
    prose = FENCE.sub("", page.read_text())
    found = [f"{what}: {m.group(0)!r}" for what, rule in HISTORY.items() for m in rule.finditer(prose)]
    assert found == []


@pytest.mark.parametrize(
    "text",
    ["fixed in issue 16", "from before the refactor (commit 2050ee1)", "while other engineers ran their tests",
     "load average 19", "in an earlier session", "see PR #12", "built at 3f9c2a1b", "other people's test runs",
     "measured 2026-11-26 23:24 UTC"],
)  # fmt: skip
def test_history_rules_catch_history(text: str) -> None:
    assert any(rule.search(text) for rule in HISTORY.values())


# The README's DAG


README_BLOCKS = [body for lang, body in FENCE.findall((REPO / "README.md").read_text()) if lang == "python"]


def test_readme_dag_builds_with_the_three_operators(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.test_docs import test_usage_snippet_builds_a_dag

    (source,) = README_BLOCKS
    for name in ("MLflowBaselineSensor(", "RegisterModelOperator(", "PublishModelReadyOperator("):
        assert name in source
    test_usage_snippet_builds_a_dag(source, monkeypatch)


def test_readme_table_cells_stay_short() -> None:
    cells = [
        cell.strip()
        for line in (REPO / "README.md").read_text().splitlines()
        if line.startswith("|")
        for cell in line.strip("|").split("|")
    ]
    assert [cell for cell in cells if len(cell) > 150] == []
