"""The attack page offers the catalogue: GET /api/attack/attacks lists the attacks that run in seconds on one
digit, and POST /api/attack runs each of them with the request's eps, steps, queries, targeted and seed."""

import warnings

import pytest
import torch

from advlab.attacks import ATTACKS
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.train_classifier import train_classifier
from advlab.playground import PlaygroundLimits, create_app
from advlab.playground.attack_lab import ATTACK_NAMES, CORE_ATTACKS, LAB_EXTRAS

with warnings.catch_warnings():  # starlette asks for httpx2, which this environment does not ship
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

EXTRAS = [name for name in LAB_EXTRAS if name in ATTACKS]
QUICK = {"steps": 5, "queries": 200}  # what the page sends from its steps box (queries = 10 x steps, here more)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogue") / "runs"
    config = ClassifierTrainConfig(out=str(root / "clf"), data="digits", model="mlp", width=64, epochs=15,
                                   device="cpu", threads=1)
    threads = torch.get_num_threads()
    try:
        train_classifier(config, progress=False, report=False)
    finally:
        torch.set_num_threads(threads)
    with TestClient(create_app([root], PlaygroundLimits(), builtin_epochs=1)) as test_client:
        yield test_client


def test_the_list_names_every_offered_attack_with_its_paper_and_fields(client):
    listed = client.get("/api/attack/attacks").json()["attacks"]
    assert [entry["name"] for entry in listed] == list(ATTACK_NAMES) == [*CORE_ATTACKS, *EXTRAS]
    assert len(EXTRAS) >= 20  # the transfer family, the sparse and the black-box attacks at least
    for entry in listed:
        assert entry["paper"] == ATTACKS[entry["name"]].paper and entry["threat"] and entry["access"]
        assert set(entry["takes"]) <= {"eps", "steps", "queries", "targeted", "seed"}
    by_name = {entry["name"]: entry for entry in listed}
    assert "eps" in by_name["mi-fgsm"]["takes"] and "queries" in by_name["geoda"]["takes"]
    assert "eps" not in by_name["deepfool"]["takes"]  # it finds its own smallest perturbation


@pytest.mark.parametrize("name", EXTRAS)
def test_every_extra_attack_runs_on_a_digit_inside_its_budget(client, name):
    reply = client.post("/api/attack", json={"victim": "runs/clf", "digit": 3, "attack": name, "eps": 0.3,
                                             "seed": 0, **QUICK})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["attack"] == name and body["evaluations"] >= 1 and body["seconds"] < 30
    if ATTACKS[name].norm == "linf" and not getattr(ATTACKS[name], "minimum_norm", False):
        assert body["perturbation"]["linf"] <= 0.3 + 1e-6
    assert all(0 <= value <= 1 for value in body["adversarial"]["pixels"])


def test_a_targeted_request_to_an_untargeted_attack_is_refused_in_one_line(client):
    reply = client.post("/api/attack", json={"victim": "runs/clf", "digit": 3, "attack": "tpgd", "targeted": True,
                                             "target": 1})
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "tpgd has no targeted mode; untick 'targeted'"


def test_a_targeted_catalogue_attack_aims_at_its_target(client):
    reply = client.post("/api/attack", json={"victim": "runs/clf", "digit": 3, "attack": "mi-fgsm", "eps": 0.5,
                                             "steps": 20, "targeted": True, "target": 1}).json()
    assert reply["targeted"] and reply["success"] and reply["adversarial"]["prediction"] == 1
    assert reply["clean"]["prediction"] != 1
    assert "target_probability" in reply["trace"]
