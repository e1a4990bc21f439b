"""advlab robustness --extra-attacks: registered attacks beyond AutoAttack's chain join the report as members of
their own, run on every example at every eps and counted in the worst case; unfit ones are refused."""

import pytest
import torch
from helpers import raises_one_line

from advlab.attacks import BIM, NES
from advlab.pipelines.security.robustness import RobustnessConfig, evaluate_robustness
from advlab.reports.robustness_report import write_robustness_report

SETTINGS = dict(eps=(0.1, 0.2), n=40, check_images=8, steps=5, queries=40, targets=1, seed=0, progress=False)


def test_extra_members_run_with_the_report_s_settings_and_count_in_the_worst_case(digits_cnn, tmp_path):
    images, labels = digits_cnn.images[:40], digits_cnn.labels[:40]
    config = RobustnessConfig(**SETTINGS, extra_attacks=("bim", "nes"))
    record = evaluate_robustness(digits_cnn.model, images, labels, config, None)
    assert record["attacks"]["bim"]["kind"] == "white-box" and record["attacks"]["nes"]["kind"] == "black-box"
    assert "bim" not in record["ensemble"]["members"]  # outside AutoAttack's chain, like FGSM and PGD
    for eps in (0.1, 0.2):
        key = f"{eps:g}"
        # the member is the registered attack with the report's steps, queries and seed
        direct = {"bim": BIM(digits_cnn.model, eps=eps, steps=5)(images, labels),
                  "nes": NES(digits_cnn.model, eps=eps, queries=40, seed=0)(images, labels)}
        for name, adversarial in direct.items():
            with torch.no_grad():
                expected = float((digits_cnn.model(adversarial).argmax(1) == labels).double().mean())
            assert record["per_attack"][name][key] == pytest.approx(expected), (name, eps)
            assert record["robust_accuracy"][key] <= record["per_attack"][name][key]
    markdown = write_robustness_report(tmp_path, record)["markdown"].read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| eps |"))
    assert "bim" in header and "nes" in header, header


@pytest.mark.parametrize("names, words", [
    (("nope",), "unknown attack 'nope'"),
    (("cw",), "cw minimises the norm and has no budget"),
    (("pgd",), "pgd is a member of the report already"),
    (("transfer",), "transfer is a member of the report already"),
    (("nes",), "nes does not attack in the l2 norm"),
])
def test_unfit_extra_attacks_are_refused(names, words):
    raises_one_line(lambda: RobustnessConfig(**SETTINGS, norm="l2", extra_attacks=names).validate(), words)
