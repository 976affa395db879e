"""`genoface serve` in a real headless Chromium (Debian's, driven by Playwright): the predicted
face is drawn, the age slider changes it, the traits panel says what `genoface traits` says,
and the match page ranks the true face where `genoface match` does. Screenshots go to each
test's temporary directory."""

from __future__ import annotations

import io
import json
import shutil
import socket
import threading
import time

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from conftest import write_23andme
from genoface.cli import app as cli
from genoface.io import write_vcf
from genoface.server import ServerSettings, create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Debian's chromium (`make system-tools` installs it where apt-get runs as root); "
    "Playwright cannot download its own browser here",
)
# WebGL without a GPU: Chromium's software rasterizer.
_CHROMIUM_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
runner = CliRunner()


@pytest.fixture(scope="module")
def site(served):
    """The application under uvicorn on a free loopback port, in a thread."""
    import uvicorn

    root, _ = served
    app = create_app(ServerSettings([root / "lippert", root / "demographic", root / "bayes"], root / "gallery"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=_CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _pixels(png: bytes) -> np.ndarray:
    return imread(io.BytesIO(png), format="png")[..., :3]


def _wait_rendered(page, more_than: int) -> None:
    page.wait_for_function(
        "n => { const v = document.querySelector('#viewers .viewer');"
        " return document.body.dataset.busy === '0' && v && v.dataset.ready === '1' && +v.dataset.renders > n; }",
        arg=more_than,
        timeout=120_000,
    )


def test_predict_page_draws_the_face_moves_with_age_and_shows_the_traits(served, site, browser, tmp_path):
    root, cohort = served
    person = tmp_path / "person.txt"
    write_23andme(person, cohort, 6, np.ones(cohort.n_variants, dtype=bool))
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(site + "/")
    page.wait_for_selector("body[data-loaded='1']")
    page.select_option("#model", "demographic")
    page.set_input_files("#file", str(person))
    page.click("#predict-button")
    _wait_rendered(page, 0)
    viewer = page.locator("#viewers .viewer").first
    assert viewer.get_attribute("data-webgl") != "0", "WebGL did not start in this Chromium"
    page.locator("#age").fill("20")
    _wait_rendered(page, int(viewer.get_attribute("data-renders")))
    young = _pixels(viewer.screenshot(path=tmp_path / "age20.png"))
    assert len(np.unique(young.reshape(-1, 3), axis=0)) > 50, "the canvas is blank"
    page.locator("#age").fill("80")
    _wait_rendered(page, int(viewer.get_attribute("data-renders")))
    old = _pixels(viewer.screenshot(path=tmp_path / "age80.png"))
    assert np.abs(old - young).mean() > 1e-3, "moving the age slider did not change the rendered face"
    page.screenshot(path=tmp_path / "predict_page.png", full_page=True)

    said = runner.invoke(cli, ["traits", "--genotypes", str(person), "--model", str(root / "demographic"), "--json"])
    assert said.exit_code == 0, said.output
    expected = json.loads(said.output)["people"][0]
    shown = 0
    for trait, record in expected.items():
        probabilities = record.get("probabilities") if isinstance(record, dict) else None
        if not probabilities:
            continue
        for label, p in probabilities.items():
            bar = page.locator(f".trait[data-trait='{trait}'] .bar[data-label='{label}']")
            assert float(bar.get_attribute("data-p")) == pytest.approx(p, abs=0.006), (trait, label)
            shown += 1
    assert shown >= 5
    height = page.locator(".trait[data-trait='height_cm'] .interval")
    assert float(height.get_attribute("data-mean")) == pytest.approx(expected["height_cm"]["mean"], abs=1e-6)
    assert "variants matched" in page.locator("#allele-report").inner_text()
    page.close()


def test_match_page_ranks_the_true_face_as_the_command_line(served, site, browser, tmp_path):
    root, cohort = served
    sid = str(cohort.sample_ids[11])
    write_vcf(tmp_path / "g.vcf.gz", cohort.sample_ids, np.asarray(cohort.genotypes), cohort.variants)
    args = ["match", "--model", str(root / "lippert"), "--genotypes", str(tmp_path / "g.vcf.gz")]
    r = runner.invoke(cli, [*args, "--faces", str(root / "gallery"), "--out", str(tmp_path / "ranks.tsv")])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(tmp_path / "ranks.tsv", sep="\t", dtype={"genome": str, "face": str})
    expected = int(table[(table["genome"] == sid) & (table["face"] == sid)]["rank"].iloc[0])

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(site + "/match")
    page.wait_for_selector("body[data-loaded='1']")
    page.select_option("#model", "lippert")
    page.fill("#top", "60")
    page.fill("#sample", sid)
    page.click("#match-button")
    page.wait_for_selector("#own-rank[data-rank]", timeout=120_000)
    assert int(page.locator("#own-rank").get_attribute("data-rank")) == expected
    own = page.locator("#gallery figure.candidate.own")
    assert own.count() == 1 and own.get_attribute("data-face") == sid
    assert int(own.get_attribute("data-rank")) == expected
    assert "probabilistic" in page.content()
    page.wait_for_function(  # the true face's thumbnail arrives (rendered by the server)
        "() => { const i = document.querySelector('#gallery figure.candidate.own img');"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=120_000,
    )
    page.screenshot(path=tmp_path / "match_page.png", full_page=True)
    page.close()


def test_report_faces_turn_offline(served, browser, tmp_path):
    """report.html from `genoface evaluate` opened from disk with every network request refused:
    each example person's three viewers draw, and choosing another model redraws the prediction."""
    root, _ = served
    out = tmp_path / "report"
    r = runner.invoke(
        cli, ["evaluate", "--cohort", str(root / "gallery"), "--models", "mean,demographic", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    asked: list[str] = []
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else (
        asked.append(route.request.url), route.abort()))  # fmt: skip
    page.goto((out / "report.html").as_uri())
    blocks = page.locator("div.face-compare")
    assert blocks.count() == 4
    page.wait_for_function(
        "() => [...document.querySelectorAll('div.face-compare')].every(b => b.dataset.ready === '1')",
        timeout=120_000,
    )
    first = blocks.first
    error_view = first.locator("figure[data-role='error'] .face-compare-viewer")
    heat = _pixels(error_view.screenshot(path=tmp_path / "report_error.png"))
    assert len(np.unique(heat.reshape(-1, 3), axis=0)) > 50, "the error viewer is blank"
    predicted = first.locator("figure[data-role='predicted'] .face-compare-viewer")
    before = _pixels(predicted.screenshot())
    first.locator("select.face-compare-choice").select_option(index=2)  # demographic's first setting
    page.wait_for_function(
        "b => b.dataset.ready === '1' && b.dataset.choice === '2'", arg=first.element_handle(), timeout=60_000
    )
    after = _pixels(predicted.screenshot(path=tmp_path / "report_predicted.png"))
    assert np.abs(after - before).mean() > 1e-3, "choosing another model did not redraw the prediction"
    assert not asked, f"the report asked the network for {asked[:3]}"
    page.close()
