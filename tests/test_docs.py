"""The documentation: the MkDocs site builds with ``--strict``, every ``raynn`` command that the README and
the guides show parses with raynn's own argument parser (the commands in code blocks whole; those written in
the text, often with placeholders, by their subcommand and flags), and the README's relative links lead to
files that exist.

No Ray: the commands are parsed, never run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from raynn.cli import _parser

REPO = Path(__file__).resolve().parents[1]
SHELL_FENCES = {"bash", "sh", "shell", "console"}  # every line a command; other fences: only `$ ` lines
SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")"}
FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
INLINE = re.compile(r"`(?:[^`\s]*/)?raynn ([a-z]+(?:/[a-z]+)*)((?: [^`]*)?)`")  # `raynn tune --resume ...`


def pages() -> list[Path]:
    """The README and every Markdown page of the site."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def shell_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, command line)`` for each command in a fenced code block: every line of a shell fence,
    the ``$ `` lines of any other fence (the rest is output), continuation lines (``\\``) joined to theirs."""
    found: list[tuple[int, str]] = []
    fence: str | None = None
    shell = False
    pending: tuple[int, str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence, shell = match.group(1), match.group(2).lower() in SHELL_FENCES
            continue
        if match and match.group(1).startswith(fence) and not match.group(2):
            fence, pending = None, None
            continue
        if pending is not None:
            start, head = pending
            line, pending = head + " " + line.strip(), None
            number = start
        elif line.lstrip().startswith("$ "):
            line = line.lstrip()[2:]
        elif not shell:
            continue
        if line.rstrip().endswith("\\"):
            pending = (number, line.rstrip()[:-1])
            continue
        found.append((number, line))
    return found


def raynn_commands(line: str) -> list[list[str]]:
    """The argument lists given to ``raynn`` in one shell line: after any prefix (``.venv/bin/``,
    ``flock LOCK``, ``scripts/cluster/submit.sh ...``), up to the next ``&&``, ``;`` or ``|``; comments
    dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    commands: list[list[str]] = []
    segment: list[str] = []
    for token in [*tokens, ";"]:
        if token not in SEPARATORS:
            segment.append(token)
            continue
        starts = [i for i, word in enumerate(segment) if os.path.basename(word) == "raynn"]
        if starts:
            commands.append(segment[starts[0] + 1:])
        segment = []
    return commands


def parse_error(args: list[str]) -> str | None:
    """None if ``raynn ARGS`` parses (subcommand and flags exist, values of the right type), else argparse's
    message. Parsing only: nothing runs."""
    parser = _parser()
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        try:
            _, unknown = parser.parse_known_args(args)
        except SystemExit as exc:
            return None if exc.code == 0 else errors.getvalue().strip() or f"argparse exited with {exc.code}"
    return f"unrecognized arguments: {' '.join(unknown)}" if unknown else None


def flags_by_subcommand() -> dict[str, set[str]]:
    """Each subcommand of ``raynn`` and the option strings it takes."""
    parser = _parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    return {name: set(sub._option_string_actions) for name, sub in subcommands.items()}


def inline_errors(text: str) -> tuple[int, list[tuple[int, str, str]]]:
    """Commands written in the text (``raynn tune --resume --name <name>``, ``raynn train/tune/study``): how
    many, and ``(line, command, error)`` for each unknown subcommand or flag. Their values are often
    placeholders, so only the names are checked."""
    known = flags_by_subcommand()
    count, errors = 0, []
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for match in INLINE.finditer(line):
            count += 1
            words = match.group(2).replace("[", " ").split()
            flags = [word.split("=")[0] for word in words if word.startswith("--")]
            for subcommand in match.group(1).split("/"):
                if subcommand not in known:
                    errors.append((number, match.group(0), f"no subcommand {subcommand!r}"))
                    continue
                for flag in flags:
                    if flag not in known[subcommand]:
                        errors.append((number, match.group(0), f"raynn {subcommand} has no flag {flag}"))
    return count, errors


def command_errors(path: Path, text: str) -> tuple[int, list[str]]:
    """How many ``raynn`` commands ``text`` shows, and one ``FILE:LINE: raynn ARGS: error`` per bad one."""
    where = path.relative_to(REPO)
    count, errors = 0, []
    for number, line in shell_lines(text):
        for args in raynn_commands(line):
            count += 1
            error = parse_error(args)
            if error is not None:
                errors.append(f"{where}:{number}: raynn {shlex.join(args)}: {error}")
    inline_count, bad = inline_errors(text)
    errors += [f"{where}:{number}: {command}: {error}" for number, command, error in bad]
    return count + inline_count, errors


def test_every_raynn_command_shown_parses() -> None:
    counts: dict[str, int] = {}
    errors: list[str] = []
    for path in pages():
        count, bad = command_errors(path, path.read_text(encoding="utf-8"))
        counts[str(path.relative_to(REPO))] = count
        errors += bad
    assert not errors, "commands in the docs that raynn's parser refuses:\n" + "\n".join(errors)
    # the extraction finds what is there (a broken extractor finds none, and nothing fails)
    assert counts["README.md"] >= 10, counts
    assert sum(counts.values()) >= 80, counts
    for guide in ("training", "tuning", "your-own-model", "cluster", "studies"):
        assert counts[f"docs/guides/{guide}.md"] >= 1, counts


def test_a_bogus_flag_or_subcommand_fails_with_its_file_and_line() -> None:
    page = REPO / "docs" / "guides" / "example.md"
    lines = [
        "# Example",
        "```bash",
        "raynn train examples/digits.yaml --workers 2      # fine",
        "flock /tmp/raynn-ray.lock .venv/bin/raynn tune space.yaml \\",
        "    --no-such-flag 3",
        "raynn trian run.yaml",
        "```",
        "```",
        "$ raynn tune space.yaml --budget many",
        "raynn hyperband+gp    23.2 [22.6-52.9]       (output, not a command)",
        "```",
        "Resume with `raynn tune --resume --name <name>`, ship code with `--working-dir` on",
        "`raynn train/tune/study`, or run `raynn tune --name <name> --frobnicate` and `raynn serve`;",
        "`raynn: error:` and `raynn_tune.json` are no commands.",
    ]
    text = "\n".join(lines)
    count, errors = command_errors(page, text)
    assert count == 8
    assert [error.split(": ")[0] for error in errors] == [
        "docs/guides/example.md:4", "docs/guides/example.md:6", "docs/guides/example.md:9",
        "docs/guides/example.md:13", "docs/guides/example.md:13"]
    assert "unrecognized arguments: --no-such-flag 3" in errors[0]
    assert "invalid choice: 'trian'" in errors[1]
    assert "--budget: must be an integer, got 'many'" in errors[2]
    assert errors[3].endswith("raynn tune has no flag --frobnicate")
    assert errors[4].endswith("no subcommand 'serve'")


def test_the_readme_links_lead_to_files() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t]
    assert local and all((REPO / t).exists() for t in local), [t for t in local if not (REPO / t).exists()]


# A repository path, not a pattern (`scripts/bench_*.py`, `test_<name>.py`), and the test it may name.
PATH = re.compile(r"(?<![\w/.-])((?:raynn|tests|scripts|examples|search_spaces|docs)/[\w./-]*\w)(?![\w./<*-])"
                  r"(?:::(\w+))?")


def test_every_file_and_test_the_docs_name_exists() -> None:
    """A path in the repository (``raynn/tune/guard.py``, ``tests/tune/test_faults.py::test_...``) named in
    the README or a guide exists, and so does the test function it names: the docs follow the code as it
    moves."""
    missing = []
    guides = sorted((REPO / "docs" / "guides").glob("*.md"))
    for path in [REPO / "README.md", REPO / "docs" / "index.md", *guides]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for match in PATH.finditer(line):
                target, test = REPO / match.group(1), match.group(2)
                if not target.exists():
                    missing.append(f"{path.relative_to(REPO)}:{number}: {match.group(1)}")
                elif test and f"\ndef {test}(" not in target.read_text(encoding="utf-8"):
                    missing.append(f"{path.relative_to(REPO)}:{number}: {match.group(0)}")
    assert not missing, "named in the docs, not in the repository:\n" + "\n".join(missing)


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """``mkdocs build --strict``: a broken link or anchor, a page left out of the nav, a reference that cannot
    be collected or a docstring griffe warns about fails the build."""
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(REPO / "mkdocs.yml"), "--site-dir", str(site)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert "TrainResult" in api and "ConfigError" in api  # mkdocstrings rendered the docstrings
    assert (site / "studies" / "batch-size" / "loss.png").exists()
