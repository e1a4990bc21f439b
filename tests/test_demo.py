"""advlab demo --quick: every demo run is made and the one report shows them (the real demo is `make demo`)."""

import json

from advlab.pipelines.demo import run_demo


def test_quick_demo_makes_every_run_and_one_report(tmp_path):
    html = run_demo(tmp_path / "demo", quick=True, device="cpu")
    root = tmp_path / "demo"
    assert html.is_file()
    for name in ("ring8", "digits", "classifier", "backdoor"):
        assert (root / name / "report.html").is_file(), name
    record = json.loads((root / "backdoor" / "poison.json").read_text())
    assert record["attack"] == "badnets" and record["poisons"] > 0
    for detector in ("spectral", "neural-cleanse"):
        detection = json.loads((root / "backdoor" / "detect" / detector / "detection.json").read_text())
        assert detection["tpr"] is not None
    page = html.read_text()
    assert "backdoor/poison/triggered.png" in page and "Poisoning" in page
