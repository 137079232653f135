"""Every command's --help ends with real examples; a bare `audioconcept-run` teaches instead of failing bare."""

from __future__ import annotations

import shlex

import pytest
import typer
from typer.testing import CliRunner

from audioconcept import cli, cli_run


def _is_group(cmd) -> bool:
    return hasattr(cmd, "commands")  # typer vendors its own click: duck typing, not click's classes


def _commands(cmd, path: tuple[str, ...] = ()):
    yield path, cmd
    if _is_group(cmd):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*path, name))


ROOT_CMD = typer.main.get_command(cli.app)
PATHS = [path for path, _ in _commands(ROOT_CMD)]


def _resolve(words: list[str]) -> tuple[tuple[str, ...], object, list[str]]:
    """`audioconcept a b --x …` -> (the command path, the command, the remaining words)."""
    cmd, path = ROOT_CMD, ()
    while words and _is_group(cmd) and words[0] in cmd.commands:
        cmd, path, words = cmd.commands[words[0]], (*path, words[0]), words[1:]
    return path, cmd, words


def _options(cmd) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}


def test_every_command_has_examples():
    missing = [" ".join(p) for p in PATHS if " ".join(p) not in cli.EXAMPLES]
    assert not missing, f"commands without EXAMPLES: {missing}"
    unknown = [k for k in cli.EXAMPLES if tuple(k.split()) not in PATHS]
    assert not unknown, f"EXAMPLES for commands that do not exist: {unknown}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "audioconcept")
def test_help_ends_with_examples(path):
    res = CliRunner().invoke(cli.app, [*path, "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    lines = [ln.strip(" │") for ln in res.output.splitlines() if ln.strip(" │")]
    tail = lines[lines.index("Examples:") + 1 :]
    assert tail and all(ln.startswith("$ audioconcept") for ln in tail), res.output
    assert len(tail) == len(cli.EXAMPLES[" ".join(path)])


@pytest.mark.parametrize("key", sorted(cli.EXAMPLES), ids=lambda k: k or "audioconcept")
def test_examples_name_real_commands_and_options(key):
    for line in cli.EXAMPLES[key]:
        assert len(line) <= 74, f"{line!r} wraps in an 80-column terminal's help box"
        words = shlex.split(line)
        assert words[0] == "audioconcept"
        path, cmd, rest = _resolve(words[1:])
        assert not _is_group(cmd) or not rest or rest[0].startswith("-"), line
        opts = _options(cmd)
        bad = [w.split("=")[0] for w in rest if w.startswith("--") and w.split("=")[0] not in opts]
        assert not bad, f"{line!r}: {bad} are not options of `audioconcept {' '.join(path)}`"


def test_audioconcept_run_help_ends_with_examples(capsys):
    with pytest.raises(SystemExit) as e:
        cli_run.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out.rstrip().splitlines()
    assert out[-len(cli_run.EXAMPLES) - 1] == "examples:"
    assert all(ln.strip().startswith("audioconcept-run ") for ln in out[-len(cli_run.EXAMPLES) :])


def test_audioconcept_run_examples_use_real_options():
    opts = {o for a in cli_run.parser()._actions for o in a.option_strings}
    for cmd, _ in cli_run.EXAMPLES:
        bad = [w for w in shlex.split(cmd) if w.startswith("--") and w not in opts]
        assert not bad, f"{cmd!r}: unknown options {bad}"


def test_bare_audioconcept_run_prints_a_short_usage(capsys):
    with pytest.raises(SystemExit) as e:
        cli_run.main([])
    assert e.value.code == 2
    err = capsys.readouterr()
    assert err.out == ""
    assert err.err.startswith("usage: audioconcept-run SONG")
    assert "examples:" in err.err and "audioconcept-run song.mp3" in err.err
    assert "Traceback" not in err.err and len(err.err.splitlines()) <= 12
