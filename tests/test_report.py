"""`jndtf report`: one HTML page from real `eval rd`, `eval jnd` and `bench` outputs.

The inputs are made by the real producers on tiny data (a 64x48 crop of a real photo, 4 JPEG
qualities, one classical model, a 0.5 s synthetic clip); only `bench models` (which exports a
TensorFlow model) is written as a fixture, through the producer's own CSV writer and columns.
The page is read back with the standard library's HTML parser and compared with the producers'
CSV/JSON files; links are checked on disk; a slow test renders the page in Debian's chromium.
"""

from __future__ import annotations

import base64
import csv
import json
import shutil
import subprocess
import sys
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import skimage.data
from typer.testing import CliRunner

import jndtf.cli.report  # noqa: F401  (registers `report` until jndtf.cli imports it)
from jndtf.cli import app
from jndtf.io import save_image
from jndtf.report import build_report, dead_links, dead_links_in

runner = CliRunner()

#: Debian's chromium (apt-get install chromium); the slow test skips without it.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

#: Odd characters in an input's name: HTML-escaped in the text, URL-quoted in the image link.
ODD_NAME = "cat&dog <1> #2"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


class PageParser(HTMLParser):
    """Tables (caption, rows of (text, class, title)), image sources, scripts and event
    attributes of a page, read the way a browser tokenises it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self.images, self.pres = [], [], []
        self.scripts, self.handlers, self.urls = 0, [], []
        self._cell = self._caption = self._pre = None
        self._row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.handlers += [k for k in a if k.startswith("on")]
        self.urls += [v for k, v in a.items() if k in ("src", "href") and v is not None]
        if tag == "script":
            self.scripts += 1
        elif tag == "table":
            self.tables.append({"caption": "", "rows": []})
        elif tag == "caption":
            self._caption = ""
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ["", a.get("class") or "", a.get("title") or ""]
        elif tag == "img":
            self.images.append(a)
        elif tag == "pre":
            self._pre = ""

    def handle_endtag(self, tag):
        if tag == "caption":
            self.tables[-1]["caption"], self._caption = self._caption, None
        elif tag in ("td", "th"):
            self._row.append(tuple(self._cell))
            self._cell = None
        elif tag == "tr":
            self.tables[-1]["rows"].append(self._row)
        elif tag == "pre":
            self.pres.append(self._pre)
            self._pre = None

    def handle_data(self, data):
        for name in ("_cell", "_caption", "_pre"):
            cur = getattr(self, name)
            if isinstance(cur, list):
                cur[0] += data
            elif cur is not None:
                setattr(self, name, cur + data)


def parse_page(path: Path) -> PageParser:
    p = PageParser()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def table(page: PageParser, caption: str, nth: int = 0) -> tuple[list[str], list[list[tuple]]]:
    """(header texts, body rows of (text, class, title)) of the nth table with `caption`."""
    found = [t for t in page.tables if t["caption"] == caption]
    assert len(found) > nth, [t["caption"] for t in page.tables]
    rows = found[nth]["rows"]
    return [c[0] for c in rows[0]], rows[1:]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_eval_jnd(out: Path) -> None:
    """An `eval jnd` output written by the producer's own writer (`write_report`) from records
    made here (the real command needs TensorFlow: see the slow test). Two metrics of opposite
    directions, so the page's "best" must follow each column's direction."""
    from jndtf.evaluate.protocol import EvalRecord, EvalReport, EvalSettings
    from jndtf.evaluate.report import write_report

    rng = np.random.default_rng(3)
    models, images = ("yang2005", "wu2017", "uniform"), ("cat", "rocket")
    records = tuple(
        EvalRecord(
            image, model, 26.06 + rng.uniform(-0.005, 0.005), 161.0, 1.2, 9.7, 0.002,
            {"psnr": 26.06 + rng.uniform(-0.01, 0.01), "nlpd": rng.uniform(0.1, 0.4)},
        )
        for image in images
        for model in models
    )  # fmt: skip
    report = EvalReport(
        EvalSettings(out_dir=out, models=models, metrics=("psnr", "nlpd")),
        images,
        models,
        ("psnr", "nlpd"),
        {"psnr": True, "nlpd": False},
        records,
        seconds=1.5,
    )
    write_report(report, out)


# ---------------------------------------------------------------------------------------------
# The runs, made once by the real producers


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    pytest.importorskip(
        "bjontegaard", reason='eval rd needs the [rd] extra: pip install "jndtf[rd]"'
    )
    root = tmp_path_factory.mktemp("runs")
    photos = root / "photos"
    photos.mkdir()
    image = skimage.data.chelsea()[100:148, 120:184]  # 64x48 crop of a real photo
    save_image(photos / f"{ODD_NAME}.png", image)
    anchors = "jpegli"
    try:
        from jndtf.codecs.image import check_encoder

        check_encoder("jpegli")
    except (ImportError, ValueError):
        anchors = ""
    rd = root / "rd"
    r = invoke(
        "eval", "rd", photos / f"{ODD_NAME}.png", "--quality", "30,50,70,90", "--method",
        "eq14", "--strength", "0.5", "--anchors", anchors, "--metrics", "psnr", "-o", rd,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    ev = root / "eval"
    write_eval_jnd(ev)
    bench = root / "bench"
    r = invoke(
        "bench", "stream", "-m", "yang2005", "--seconds", "0.5", "--size", "96x64",
        "--threads", "1", "--csv", bench / "stream.csv",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    # `bench models` exports a TensorFlow model: its CSV is written here through the
    # producer's writer and columns instead, with made-up timings.
    from jndtf.bench.models import ROW_COLUMNS
    from jndtf.bench.report import latency_stats, write_csv

    rows = []
    for runtime, times in (("tflite-int8", [0.021, 0.023, 0.022]), ("onnx", [0.05, 0.06])):
        stats = latency_stats(times)
        rows.append(
            {"model": "acol", "runtime": runtime, "shape": "fixed", "size": "640x360",
             "height": 360, "width": 640, "threads": 2, "warmup": 1,
             "fps": 1000.0 / stats["median_ms"], **stats}
        )  # fmt: skip
    write_csv(rows, bench / "models.csv", columns=ROW_COLUMNS)
    return {"rd": rd, "eval": ev, "bench": bench, "image": image}


@pytest.fixture(scope="module")
def page(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("pages") / "sub" / "report.html"
    r = invoke("report", runs["eval"], runs["rd"], runs["bench"], "-o", out, "--title", "T <&>")
    assert r.exit_code == 0, r.output
    assert f"wrote {out}" in r.output
    return out


# ---------------------------------------------------------------------------------------------


def test_help():
    r = invoke("report", "--help")
    assert r.exit_code == 0 and "--embed" in r.output and "RUN_DIR" in r.output


def test_every_plot_is_linked_once_and_resolves(runs, page):
    assert dead_links(page) == []
    p = parse_page(page)
    shown = [(page.parent / unquote(img["src"])).resolve() for img in p.images]
    expected = sorted(runs["rd"].glob("plots/*.png")) + sorted(runs["eval"].glob("bars_*.png"))
    assert len(expected) == 3  # one rate-quality plot, one bar chart per metric
    assert sorted(shown) == sorted(e.resolve() for e in expected)
    assert all(not img["src"].startswith("/") for img in p.images)  # relative links


def test_page_is_self_contained(page):
    p = parse_page(page)
    assert p.scripts == 0 and p.handlers == []
    assert not [u for u in p.urls if u.startswith(("http:", "https:", "//"))]
    assert "<link" not in page.read_text()  # no stylesheet loaded from anywhere


def test_text_is_escaped(page):
    text = page.read_text()
    assert "<title>T &lt;&amp;&gt;</title>" in text
    assert "cat&amp;dog &lt;1&gt; #2" in text and "<1>" not in text


def test_bd_rate_tables_match_bdrate_csv_with_the_anchors(runs, page):
    settings = json.loads((runs["rd"] / "settings.json").read_text())
    rows = read_csv(runs["rd"] / "bdrate.csv")
    p = parse_page(page)
    assert any(settings["command"] == pre for pre in p.pres)  # what was run
    checked = 0
    for interp in ("cubic", "pchip"):
        header, body = table(p, f"BD-rate at equal psnr ({interp})")
        assert header == ["curve", "kind", "vs", ODD_NAME, "mean"]
        for r in rows:
            if r["interpolation"] != interp:
                continue
            line = [b for b in body if (b[0][0], b[2][0]) == (r["curve"], r["reference"])]
            assert len(line) == 1, (r, body)
            col = 3 if r["input"] == ODD_NAME else 4
            text, cls, _ = line[0][col]
            kind = line[0][1][0]
            assert kind == ("anchor" if r["curve"] in settings["anchors"] else "JND method")
            if r["bd_rate_percent"] == "":
                assert text.startswith(("n/a", "no overlap")), text
                continue
            value = float(r["bd_rate_percent"])
            assert float(text.split(" %")[0]) == pytest.approx(value, abs=0.05)  # shown .1f
            lo, hi = float(r["overlap_lo"]), float(r["overlap_hi"])
            assert f"({lo:.4g}–{hi:.4g})" in text
            assert ("saves" in cls) == (value < 0) and ("loses" in cls) == (value > 0)
            checked += 1
    assert checked >= 4
    if settings["anchors"]:  # the anchor against the plain encoder is a row of its own
        _, body = table(p, "BD-rate at equal psnr (cubic)")
        assert [b[2][0] for b in body if b[0][0] == "jpegli"] == [settings["encoder"]]


def check_average_table(page: Path, run: Path) -> None:
    """The page's average table holds average.csv's numbers, the best of each metric bold in
    the direction report.json gives."""
    rows = read_csv(run / "average.csv")
    directions = json.loads((run / "report.json").read_text())["metrics"]
    header, body = table(parse_page(page), "Average over the images")
    assert header == list(rows[0])
    for r, b in zip(rows, body, strict=True):
        for col, name in enumerate(header):
            if name == "model":
                assert b[col][0] == r[name]
            else:  # 4 decimals or 4 significant digits on the page
                assert float(b[col][0]) == pytest.approx(float(r[name]), rel=5e-4, abs=5e-5)
    for metric, direction in directions.items():
        col = header.index(f"{metric} ({direction})")
        values = [float(r[header[col]]) for r in rows]
        best = values.index(max(values) if direction == "higher is better" else min(values))
        assert ["best" in b[col][1] for b in body] == [i == best for i in range(len(rows))]


def test_eval_jnd_average_table_matches_average_csv_best_bold(runs, page):
    check_average_table(page, runs["eval"])
    _, body = table(parse_page(page), "Per image")
    assert len(body) == len(read_csv(runs["eval"] / "per_image.csv"))


def test_bench_tables_match_their_csv(runs, page):
    p = parse_page(page)
    for name, key in (("stream.csv", "setting"), ("models.csv", "runtime")):
        rows = read_csv(runs["bench"] / name)
        header, body = table(p, f"bench {name[:-4]} ({name})")
        assert [b[header.index(key)][0] for b in body] == [r[key] for r in rows]
        fps = [float(b[header.index("fps")][0]) for b in body]
        assert fps == pytest.approx([float(r["fps"]) for r in rows], abs=0.05)  # shown .1f
    text = page.read_text()
    stream = read_csv(runs["bench"] / "stream.csv")
    for warning in {r["warning"] for r in stream if r["warning"]}:
        assert text.count(escape(warning)) == 1  # one line per distinct warning


def test_embed_inlines_the_plots_and_survives_a_move(runs, tmp_path):
    out = tmp_path / "mail" / "report.html"
    r = invoke("report", runs["rd"], "-o", out, "--embed")
    assert r.exit_code == 0, r.output
    moved = tmp_path / "elsewhere.html"
    shutil.move(out, moved)
    assert dead_links(moved) == []
    (img,) = parse_page(moved).images
    head, data = img["src"].split(",", 1)
    assert head == "data:image/png;base64"
    (plot,) = runs["rd"].glob("plots/*.png")
    assert base64.b64decode(data) == plot.read_bytes()


def test_a_moved_plot_is_a_dead_link_and_a_dead_page_is_not_written(runs, tmp_path, monkeypatch):
    copy = tmp_path / "rd"
    shutil.copytree(runs["rd"], copy)
    page = tmp_path / "report.html"
    build_report([copy], page)
    assert dead_links(page) == []
    (plot,) = copy.glob("plots/*.png")
    plot.unlink()
    (src,) = [img["src"] for img in parse_page(page).images]
    assert dead_links(page) == [src]
    # build_report checks before it writes: a page that would have a dead link is refused
    import jndtf.report.page as page_module

    monkeypatch.setattr(page_module, "image_src", lambda *a: "plots/missing.png")
    shutil.copytree(runs["rd"], tmp_path / "rd2")
    r = invoke("report", tmp_path / "rd2", "-o", tmp_path / "refused.html")
    assert r.exit_code == 2 and "plots/missing.png" in r.output
    assert not (tmp_path / "refused.html").exists()
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".refused")] == []


def test_dead_links_on_a_hand_written_page(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a b.png").write_bytes(b"x")
    (tmp_path / "there.png").write_bytes(b"x")
    html = (
        '<p id="top"></p>'
        '<img src="img/a%20b.png">'  # exists (URL-quoted space)
        '<img src="img/gone.png">'  # dead
        '<img src="data:image/png;base64,AAAA">'  # not a file
        '<a href="https://example.org/x.png">'  # not a file
        '<a href="#top"></a><a href="#nowhere"></a>'  # one id exists, one does not
        f'<img src="{tmp_path / "there.png"}">'  # absolute, exists
        '<img src="">'  # loads nothing
        '<a href="img/gone.png"></a>'  # listed once
        '<img src="../' + tmp_path.name + '/there.png">'  # ".." resolved lexically
    )
    assert dead_links_in(html, tmp_path) == ["img/gone.png", "#nowhere", ""]
    page = tmp_path / "p.html"
    page.write_text(html)
    assert dead_links(page) == ["img/gone.png", "#nowhere", ""]
    with pytest.raises(FileNotFoundError, match=r"missing\.html"):
        dead_links(tmp_path / "missing.html")


def test_page_in_another_folder_links_up(runs, tmp_path):
    out = tmp_path / "a" / "b" / "c.html"
    build_report([runs["eval"]], out)
    srcs = [img["src"] for img in parse_page(out).images]
    assert srcs and all(s.startswith("../../") for s in srcs)
    assert dead_links(out) == []


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda d: None, ["report.json", "points.csv", "bdrate.csv", "bench", "median_ms"]),
        (lambda d: (d / "x.csv").write_text("a,b\n1,2\n"), ["none of the known", "setting"]),
    ],
)
def test_a_folder_without_known_outputs_names_what_was_looked_for(tmp_path, make, expect):
    run = tmp_path / "run"
    run.mkdir()
    make(run)
    r = invoke("report", run, "-o", tmp_path / "r.html")
    assert r.exit_code == 2, r.output
    flat = " ".join(r.output.split())
    assert str(run) in flat and all(e in flat for e in expect), flat
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(
    "args, expect",
    [
        (["missing-run"], "no such folder or file"),
        (["RUN", "-o", "report.txt"], ".html file"),
        (["CSV"], "not a jndtf bench CSV"),
        (["JSON"], "not valid JSON"),
    ],
)
def test_bad_input_is_one_line_naming_it(tmp_path, args, expect):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("report.json", "average.csv", "per_image.csv"):
        (run / name).write_text("{" if name == "report.json" else "a\n1\n")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    subs = {"RUN": run, "CSV": tmp_path / "bad.csv", "JSON": run, "report.txt": tmp_path / "r.txt"}
    args = [subs.get(a, tmp_path / a if a == "missing-run" else a) for a in args]
    if "-o" not in args:
        args += ["-o", tmp_path / "r.html"]
    r = invoke("report", *args)
    assert r.exit_code == 2, r.output
    assert expect in " ".join(r.output.split())


def test_no_tensorflow_keras_or_matplotlib(runs, tmp_path):
    code = (
        "import sys\n"
        "from jndtf.report import build_report\n"
        f"build_report([{str(runs['rd'])!r}, {str(runs['eval'])!r}, {str(runs['bench'])!r}], "
        f"{str(tmp_path / 'r.html')!r})\n"
        "print([m for m in ('tensorflow', 'keras', 'matplotlib', 'torch') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.tf
def test_real_eval_jnd_output(runs, tmp_path):
    """The real `jndtf eval jnd` (Keras inside) on one 64x48 photo and a classical model."""
    photos = tmp_path / "photos"
    photos.mkdir()
    save_image(photos / "cat.png", runs["image"])
    ev = tmp_path / "eval"
    r = invoke(
        "eval", "jnd", "--data", photos, "--models", "yang2005,uniform", "--metrics", "psnr",
        "-o", ev,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    out = tmp_path / "report.html"
    r = invoke("report", ev, "-o", out)
    assert r.exit_code == 0, r.output
    check_average_table(out, ev)
    assert dead_links(out) == []
    (img,) = parse_page(out).images
    assert (out.parent / unquote(img["src"])).resolve() == (ev / "bars_psnr.png").resolve()


@pytest.mark.slow
@pytest.mark.parametrize("embed", [False, True])
def test_chromium_renders_the_page_with_its_images(runs, tmp_path, embed):
    """Debian's chromium, headless, takes a screenshot of the page: it is not one colour, and
    the bar chart's first bar (tab10 blue, jndtf.evaluate.report.PALETTE[0]) is on it, so the
    image loaded (the text alone has no such colour)."""
    if not Path(CHROMIUM).is_file():
        pytest.skip("chromium not installed (Debian: apt-get install chromium)")
    out = tmp_path / "page" / "report.html"
    build_report([runs["eval"], runs["rd"]], out, embed=embed)
    shot = tmp_path / "shot.png"
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
        "--window-size=1280,2000", out.resolve().as_uri(),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), done.stderr[-2000:]
    import cv2

    img = cv2.imread(str(shot))[..., ::-1]  # RGB
    assert img.shape[:2] == (2000, 1280)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 1  # not blank
    from jndtf.evaluate.report import PALETTE

    # +-6 per channel: PNG screenshots are exact, but the page may scale the chart by a
    # fraction of a pixel and blend its edges; the bar's inside keeps the colour.
    blue = np.all(np.abs(img.astype(int) - np.array(PALETTE[0])) <= 6, axis=-1)
    assert blue.sum() > 1000, blue.sum()


def test_a_recorded_cpu_line_and_command_are_shown(runs, tmp_path):
    """Outputs that record the CPU (``"cpu"``: jndtf.sysinfo.cpu_line()) and, for eval jnd, the
    command, have them on the page; outputs that do not are marked as not recording them."""
    rd, ev, bench = tmp_path / "rd", tmp_path / "eval", tmp_path / "bench"
    shutil.copytree(runs["rd"], rd)
    shutil.copytree(runs["eval"], ev)
    bench.mkdir()
    settings = json.loads((rd / "settings.json").read_text())
    (rd / "settings.json").write_text(json.dumps({**settings, "cpu": "CPU-A, 2 cores"}))
    report = json.loads((ev / "report.json").read_text())
    report.update(command="jndtf eval jnd --models x", cpu="CPU-B, 4 cores")
    (ev / "report.json").write_text(json.dumps(report))
    rows = read_csv(runs["bench"] / "stream.csv")
    with open(bench / "stream.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*rows[0], "cpu"])
        writer.writeheader()
        writer.writerows({**r, "cpu": "CPU-C, 8 cores"} for r in rows)
    out = tmp_path / "r.html"
    build_report([rd, ev, bench, runs["bench"] / "models.csv"], out)
    text = out.read_text()
    for cpu in ("CPU-A, 2 cores", "CPU-B, 4 cores", "CPU-C, 8 cores"):
        assert f"CPU: <code>{cpu}</code>" in text
    assert "jndtf eval jnd --models x" in parse_page(out).pres
    assert text.count("CPU: not recorded by this output") == 1  # the bench models CSV
