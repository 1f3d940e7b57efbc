"""Every command-line default and help text is written once, on a settings dataclass field
(issue 10.4): the typer command is derived from the field (:mod:`jndtf.cli._settings`), so the
option's default and help cannot drift from the library's. Checked against the dataclass
fields themselves (``dataclasses.fields``), not against numbers written here; and every
command's ``--help`` still renders."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from jndtf.cli import app
from jndtf.cli._settings import (
    FIELD_DEFAULT,
    Cli,
    cli_default,
    cli_fields,
    field_default,
    option,
    settings_command,
)

runner = CliRunner()
WIDE = {"COLUMNS": "400", "TERMINAL_WIDTH": "400"}  # no wrapped help lines


def _walk(command, path=()):
    """Every (sub)command, groups that list theirs lazily (`jndtf train`) included."""
    yield path, command
    if hasattr(command, "list_commands"):
        ctx = typer.Context(command)
        for name in sorted(command.list_commands(ctx)):
            yield from _walk(command.get_command(ctx, name), (*path, name))


COMMANDS = list(_walk(typer.main.get_command(app)))
LEAVES = [(p, c) for p, c in COMMANDS if not hasattr(c, "list_commands")]
#: Commands that take options or arguments (``jndtf list`` takes none).
WITH_PARAMS = [(p, c) for p, c in LEAVES if any(q.name != "help" for q in c.params)]
DERIVED = [(p, c) for p, c in LEAVES if hasattr(c.callback, "__settings__")]

#: Commands whose options are still written in their signature (not derived from a settings
#: dataclass yet). The test below fails when one is converted (remove it here) and when a new
#: command is added without a settings dataclass. `jndtf train FAMILY` (jndtf/cli/train.py) is
#: generated from the model registry by its own module and is left out of this list.
NOT_DERIVED: set[tuple[str, ...]] = set()
TRAIN_GROUP = "train"


def _ids(items):
    return [" ".join(p) or "jndtf" for p, _ in items]


def test_the_derived_commands_are_the_expected_ones():
    derived = {p for p, _ in DERIVED}
    assert {
        ("stream",),
        ("bench", "stream"),
        ("export",),
        ("bench", "models"),
        ("eval", "jnd"),
        ("eval", "rd"),
        ("compress",),
        ("jnd",),
        ("calibrate",),
        ("pjnd",),
        ("report",),
        ("dmv",),
        ("eval", "dmv"),
    } <= derived
    leaves = {p for p, _ in WITH_PARAMS}
    written = leaves - derived - {p for p in leaves if p[0] == TRAIN_GROUP}
    assert written == NOT_DERIVED & leaves, sorted(written ^ NOT_DERIVED)
    assert not derived & NOT_DERIVED, sorted(derived & NOT_DERIVED)


@pytest.mark.parametrize("path, command", DERIVED, ids=_ids(DERIVED))
def test_option_default_and_help_are_the_settings_fields(path, command):
    settings_cls = command.callback.__settings__
    # jndtf.cli._settings keeps the facts it used; `jndtf train FAMILY` (jndtf/cli/train.py)
    # derives from the same metadata["cli"] facts on the fields
    facts = getattr(command.callback, "__settings_cli__", None)
    if facts is None:
        facts = {f.name: cli for f, cli in cli_fields(settings_cls)}
    params = {p.name: p for p in command.params}
    fields = {f.name: f for f in dataclasses.fields(settings_cls)}
    assert facts, f"{path}: no option comes from {settings_cls.__name__}"
    for name, cli in facts.items():
        param, f = params[name], fields[name]
        assert param.help == cli.help, name
        own = field_default(f)
        if cli.default is not FIELD_DEFAULT:  # a required library field the CLI fills
            assert own is dataclasses.MISSING, (
                f"{name}: the field has a default of its own now: drop the Cli(default=...)"
            )
            assert param.default == cli.default, name
            continue
        if own is dataclasses.MISSING:
            assert param.required, name
            continue
        if cli.parse is not None and own is not None:
            # the option's text default reads back as the field's value (one source)
            assert cli.parse(param.default) == own, name
        else:
            assert param.default == own, name
        assert param.default == cli_default(f, cli), name


@pytest.mark.parametrize("path, command", LEAVES, ids=_ids(LEAVES))
def test_every_command_has_help_and_every_option_help_text(path, command):
    r = runner.invoke(app, [*path, "--help"], env=WIDE)
    assert r.exit_code == 0, r.output
    for param in command.params:
        if isinstance(param, typer.core.TyperOption) and param.name != "help":
            assert param.help, f"{' '.join(path)} {param.opts}: no help text"
            assert param.opts[0] in r.output, param.opts


def test_top_level_and_group_help():
    for path, command in COMMANDS:
        if hasattr(command, "list_commands"):
            r = runner.invoke(app, [*path, "--help"], env=WIDE)
            assert r.exit_code == 0, r.output
            for name in command.list_commands(typer.Context(command)):
                assert name in r.output, (path, name)


# --------------------------------------------------------------------- the helper on its own


@dataclass(frozen=True)
class _Toy:
    source: str = option(argument=True, help="Where from.")
    count: int = option("--count", "-n", default=3, min=1, help="How many.")
    size: tuple[int, int] | None = option(
        default=(64, 48),
        cli_type=str,
        parse=lambda t: tuple(int(v) for v in t.split("x")),
        show=lambda wh: f"{wh[0]}x{wh[1]}",
        help="WIDTHxHEIGHT.",
    )
    out: Path | None = option("--out", "-o", default=None, help="Folder.")
    loud: bool = option("--loud/--quiet", default=True, help="Talk.")
    internal: int = 7  # no Cli: not an option

    def __post_init__(self):
        if self.count > 10:
            raise ValueError("--count must be <= 10")


def _toy_app():
    toy = typer.Typer()
    seen = []

    @toy.callback()
    def _group() -> None:
        pass

    @settings_command(toy, "go", _Toy)
    def go(
        settings: _Toy,
        ctx: typer.Context,
        extra: Annotated[bool, typer.Option("--extra", help="Own flag.")] = False,
    ) -> None:
        from jndtf.cli._settings import given

        seen.append((settings, extra, given(ctx, "count")))

    return toy, seen


def test_helper_fills_the_settings_from_options():
    toy, seen = _toy_app()
    r = runner.invoke(toy, ["go", "cam", "-n", "4", "--size", "96x32", "--quiet", "--extra"])
    assert r.exit_code == 0, r.output
    assert seen[-1] == (_Toy("cam", 4, (96, 32), None, False), True, True)
    r = runner.invoke(toy, ["go", "cam"])
    assert r.exit_code == 0, r.output
    assert seen[-1] == (_Toy("cam"), False, False)  # the dataclass's defaults, count not typed


def test_helper_turns_a_refused_value_into_one_line():
    toy, seen = _toy_app()
    r = runner.invoke(toy, ["go", "cam", "--count", "11"])
    assert r.exit_code == 2 and "--count must be <= 10" in r.output and not seen
    assert "Traceback" not in r.output
    r = runner.invoke(toy, ["go", "cam", "--count", "0"])  # typer's own min=1
    assert r.exit_code == 2 and not seen


def test_helper_reads_defaults_and_help_from_the_fields():
    toy, _ = _toy_app()
    command = typer.main.get_command(toy).commands["go"]
    params = {p.name: p for p in command.params}
    assert set(params) >= {"source", "count", "size", "out", "loud", "extra"}
    assert "internal" not in params
    assert params["size"].default == "64x48" and params["count"].default == 3
    assert params["count"].help == "How many." and params["source"].required
    assert [f.name for f, _ in cli_fields(_Toy)] == ["source", "count", "size", "out", "loud"]


def test_helper_refuses_a_mapping_for_a_field_that_does_not_exist():
    with pytest.raises(TypeError, match="no field"):
        cli_fields(_Toy, {"nope": Cli(help="x")})


# ------------------------------------------------- one (width, height) convention (10.4)


def test_stream_size_reaches_the_settings_as_width_height(monkeypatch):
    import jndtf.edge.stream

    import jndtf.bench.stream

    seen = []

    def stop(settings, **_):
        seen.append(settings)
        raise ValueError("stopped by the test")

    monkeypatch.setattr(jndtf.edge.stream, "run_stream", stop)
    monkeypatch.setattr(jndtf.bench.stream, "bench_stream", stop)
    r = runner.invoke(app, ["stream", "0", "-m", "wu2017", "--size", "640x360"])
    assert r.exit_code == 2 and "stopped by the test" in r.output, r.output
    r = runner.invoke(app, ["bench", "stream", "-m", "wu2017", "--size", "320x180"])
    assert r.exit_code == 2 and "stopped by the test" in r.output, r.output
    assert [s.size for s in seen] == [(640, 360), (320, 180)]  # WIDTHxHEIGHT -> (W, H)


def test_runtime_sizes_are_width_height():
    """A classical model at jnd_scale 0.5 on a 224 wide, 128 high frame: the runtime names
    the inference size (112, 64) = (W, H), the same order as the frame sources and --size."""
    import numpy as np
    from jndtf.edge import JndMapper, JndMapperOptions

    frame = np.random.default_rng(0).integers(0, 256, (128, 224, 3), dtype=np.uint8)
    opts = JndMapperOptions(model="wu2017", jnd_scale=0.5)
    with JndMapper.create_from_options(opts) as m:
        assert m.input_size is None  # classical: follows the frame
        assert m.inference_size(224, 128) == (112, 64)
        r = m.process(frame)
    assert r.inference_size == (112, 64) and r.jnd.shape[:2] == (128, 224)
