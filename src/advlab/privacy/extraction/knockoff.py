"""Knockoff Nets: a copy trained on the victim's answers for natural images of another distribution.

Orekondy, Schiele & Fritz 2019, "Knockoff Nets: Stealing Functionality of Black-Box Models". The attacker
queries the victim on images x_t drawn from a transfer set P_A (natural images, not the victim's
training distribution: sec. 4.1), collects its answers y_t = F_V(x_t), and trains a knockoff F_A of its
own architecture on {(x_t, y_t)} (sec. 4.2: cross-entropy to the full posterior -- soft labels -- when the
victim gives one, to the label otherwise). Two ways to choose the queries (sec. 4.1):

* ``random``   -- x_t drawn uniformly from the transfer set without replacement (sec. 4.1.1);
* ``adaptive`` -- sec. 4.1.2: the transfer set's images are grouped (their own classes or sources: the
  "arms" z), and a gradient bandit picks the group of each query: pi_t(z) = softmax(H_t)(z), and after the
  reward r_t of the query drawn from group z_t,

      H_{t+1}(z_t) = H_t(z_t) + alpha (r_t - rbar_t) (1 - pi_t(z_t)),
      H_{t+1}(z)   = H_t(z)   - alpha (r_t - rbar_t) pi_t(z)        for z != z_t,

  with rbar_t the mean reward so far. The reward is the sum of three, each standardised by its running mean
  and standard deviation: certainty r_cert = y_{t,k1} - y_{t,k2} (the margin between the victim's two most
  likely classes), diversity r_div = sum_k max(0, y_{t,k} - ybar_{t,k}) (against the mean answer so far), and
  loss r_L = -sum_k y_{t,k} log yhat_{t,k}, the cross-entropy of an online knockoff's prediction yhat_t
  before it trains on the answer. The online knockoff takes one Adam step per ``bandit_batch`` queries (the
  bandit's updates are applied per query, in batches of that size).

Budgets: the queries are chosen once for the largest budget (their order fixed), and for every budget B a
fresh knockoff -- from the same initial weights -- is trained on the first B of them, so the figures of
different budgets share their queries but not their training.
"""

from __future__ import annotations

import copy
import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.core.seeding import make_generator
from advlab.privacy.extraction.copies import train_copy, victim_targets
from advlab.privacy.victim import Victim

SAMPLINGS = ("random", "adaptive")


class RunningMoments:
    """Running mean and variance of a stream of vectors (Welford), to standardise the bandit's rewards."""

    def __init__(self, size: int):
        self.count, self.mean, self.square = 0, torch.zeros(size, dtype=torch.float64), \
            torch.zeros(size, dtype=torch.float64)

    def add(self, values: Tensor) -> None:
        for value in values.double():
            self.count += 1
            delta = value - self.mean
            self.mean += delta / self.count
            self.square += delta * (value - self.mean)

    def standardise(self, values: Tensor) -> Tensor:
        spread = (self.square / max(self.count - 1, 1)).sqrt().clamp_min(1e-8)
        return (values.double() - self.mean) / spread


def rewards(answers: Tensor, predicted: Tensor, mean_answer: Tensor) -> Tensor:
    """(N, 3) float64: certainty, diversity and loss rewards of sec. 4.1.2 for the victim's `answers` (N, K)
    (probability rows; one-hot for labels), the online knockoff's `predicted` probabilities and the mean answer
    so far."""
    top = answers.double().topk(2, dim=1).values
    certainty = top[:, 0] - top[:, 1]
    diversity = (answers.double() - mean_answer).clamp_min(0).sum(1)
    loss = -(answers.double() * predicted.double().clamp_min(1e-12).log()).sum(1)
    return torch.stack([certainty, diversity, loss], dim=1)


class KnockoffNets:
    """Orekondy et al. 2019: ``KnockoffNets("random").extract(victim, copy, transfer_images, [500, 5000])``.

    Args:
        sampling: "random" (sec. 4.1.1) or "adaptive" (sec. 4.1.2, the gradient bandit over the transfer set's groups).
        epochs: passes of knockoff training over its queries (more for a small budget: see min_steps).
        batch_size: knockoff training minibatch.
        lr: Adam's learning rate for the knockoff.
        min_steps: at least this many minibatch steps of training, so a small budget is not left underfit.
        bandit_lr: alpha, the step of the bandit's preferences H (adaptive).
        bandit_batch: queries per bandit step and per step of the online knockoff (adaptive).
        seed: seeds the sampling and the training order.
        progress: show progress bars.
    """

    def __init__(self, sampling: str = "random", epochs: int = 20, batch_size: int = 128, lr: float = 3e-3,
                 min_steps: int = 500, bandit_lr: float = 0.05, bandit_batch: int = 16, seed: int = 0,
                 progress: bool = False):
        if sampling not in SAMPLINGS:
            raise AdvlabError(f"knockoff: unknown sampling {sampling!r}; valid samplings are: {', '.join(SAMPLINGS)}")
        self.sampling = sampling
        self.epochs = check_int("knockoff: epochs", epochs, 1)
        self.batch_size = check_int("knockoff: batch_size", batch_size, 1)
        self.lr = check_number("knockoff: lr", lr, 0.0, strict=True)
        self.min_steps = check_int("knockoff: min_steps", min_steps, 0)
        self.bandit_lr = check_number("knockoff: bandit_lr", bandit_lr, 0.0)
        self.bandit_batch = check_int("knockoff: bandit_batch", bandit_batch, 1)
        self.seed = seed
        self.progress = progress

    def extract(self, victim: Victim, knockoff: nn.Module, transfer: Tensor, budgets: list[int],
                arms: Tensor | None = None) -> dict[int, nn.Module]:
        """{budget: knockoff trained on that many queries}; `knockoff` gives the architecture and the initial
        weights (it is deep-copied, not trained); `arms` (N,) groups the transfer images for adaptive sampling."""
        budgets = check_budgets(budgets, len(transfer))
        rows, answers = self.select(victim, knockoff, transfer, budgets[-1], arms)
        copies = {}
        for budget in budgets:
            fitted = copy.deepcopy(knockoff)
            epochs = max(self.epochs, -(-self.min_steps * self.batch_size // budget))
            train_copy(fitted, transfer[rows[:budget]], answers[:budget], epochs, self.batch_size, self.lr,
                       make_generator(self.seed + 1, torch.device("cpu")), self.progress, f"knockoff {budget}")
            copies[budget] = fitted
        return copies

    def select(self, victim: Victim, knockoff: nn.Module, transfer: Tensor, budget: int,
               arms: Tensor | None) -> tuple[Tensor, Tensor]:
        """(rows of `transfer` queried, in order; the victim's answers as training targets)."""
        generator = make_generator(self.seed, torch.device("cpu"))
        if self.sampling == "random":
            rows = torch.randperm(len(transfer), generator=generator)[:budget]
            return rows, victim_targets(victim, transfer[rows])
        if arms is None or len(arms) != len(transfer):
            raise AdvlabError("knockoff: adaptive sampling needs the transfer set's groups (arms), one per image")
        return self.bandit(victim, copy.deepcopy(knockoff), transfer, budget, arms, generator)

    def bandit(self, victim: Victim, online: nn.Module, transfer: Tensor, budget: int, arms: Tensor,
               generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Sec. 4.1.2: queries chosen group by group by the gradient bandit, which learns from their rewards."""
        bandit, scorer = GradientBandit(arms, self.bandit_lr, generator), RewardScorer()
        optimizer = torch.optim.Adam(online.parameters(), lr=self.lr)
        classes = online_classes(online, transfer)
        chosen_rows, chosen_answers = [], []
        bar = tqdm(total=budget, disable=not self.progress, unit="query", desc="knockoff adaptive sampling",
                   dynamic_ncols=True, file=sys.stderr)
        asked = 0
        while asked < budget:
            policy = bandit.policy()
            picks, rows = bandit.draw(min(self.bandit_batch, budget - asked))
            answers = victim_targets(victim, transfer[rows])
            predicted = online_step(online, optimizer, transfer[rows], answers)
            soft = answers if answers.dim() == 2 else F.one_hot(answers, classes).float()
            bandit.learn(picks, scorer.score(soft, predicted), policy)
            chosen_rows.append(rows)
            chosen_answers.append(answers)
            asked += len(rows)
            bar.update(len(rows))
        bar.close()
        return torch.cat(chosen_rows), torch.cat(chosen_answers)


class GradientBandit:
    """The policy of sec. 4.1.2 over the transfer set's groups: preferences H, pi = softmax(H) over the groups that
    still hold unqueried images; each image is drawn once."""

    def __init__(self, arms: Tensor, lr: float, generator: torch.Generator):
        _, groups = arms.cpu().unique(return_inverse=True)
        pools = [(groups == z).nonzero().flatten() for z in range(int(groups.max()) + 1)]
        self.pools = [pool[torch.randperm(len(pool), generator=generator)].tolist() for pool in pools]
        self.preferences = torch.zeros(len(pools), dtype=torch.float64)
        self.lr, self.generator = lr, generator
        self.baseline, self.steps = 0.0, 0

    def policy(self) -> Tensor:
        empty = torch.tensor([not pool for pool in self.pools])
        return F.softmax(self.preferences.masked_fill(empty, float("-inf")), dim=0)

    def draw(self, count: int) -> tuple[list[int], Tensor]:
        """(the group of each of `count` queries, their rows); a group that runs dry passes to one with images."""
        drawn = torch.multinomial(self.policy(), count, replacement=True, generator=self.generator).tolist()
        picks, rows = [], []
        for z in drawn:
            z = z if self.pools[z] else next(k for k, pool in enumerate(self.pools) if pool)
            picks.append(z)
            rows.append(self.pools[z].pop())
        return picks, torch.tensor(rows)

    def learn(self, picks: list[int], rewards: Tensor, policy: Tensor) -> None:
        """H += alpha (r - rbar) (onehot(z) - pi), one query at a time, rbar the running mean reward."""
        for z, reward in zip(picks, rewards.tolist()):
            self.steps += 1
            self.baseline += (reward - self.baseline) / self.steps
            step = -self.lr * (reward - self.baseline) * policy
            step[z] += self.lr * (reward - self.baseline)
            self.preferences += step


class RewardScorer:
    """The summed, standardised certainty + diversity + loss rewards of sec. 4.1.2 for batches of answers."""

    def __init__(self):
        self.moments = RunningMoments(3)
        self.mean_answer: Tensor | None = None
        self.answers = 0

    def score(self, answers: Tensor, predicted: Tensor) -> Tensor:
        """(N,) rewards of the victim's `answers` (N, K) given the online knockoff's `predicted` probabilities."""
        if self.mean_answer is None:
            self.mean_answer = answers.double().mean(0)
        raw = rewards(answers, predicted, self.mean_answer)
        self.moments.add(raw)
        self.answers += len(answers)
        self.mean_answer += (answers.double().mean(0) - self.mean_answer) * len(answers) / self.answers
        return self.moments.standardise(raw).sum(1)


def online_step(model: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, answers: Tensor) -> Tensor:
    """The online knockoff's probabilities for `images` (before learning them, on the CPU), then one Adam step on
    the cross-entropy to the victim's `answers`."""
    device = next(model.parameters()).device
    images = images.to(device)
    with torch.no_grad():
        predicted = F.softmax(model.eval()(images), dim=1).cpu()
    model.train()
    loss = F.cross_entropy(model(images), answers.to(device))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return predicted


def online_classes(model: nn.Module, transfer: Tensor) -> int:
    """The number of classes the knockoff predicts (its output width)."""
    with torch.no_grad():
        return model(transfer[:1].to(next(model.parameters()).device)).shape[1]


def check_budgets(budgets, available: int) -> list[int]:
    """The budgets sorted, each an int >= 1 and at most the transfer set's size (each image is queried once)."""
    budgets = sorted({check_int("knockoff: query budget", budget, 1) for budget in budgets})
    if not budgets:
        raise AdvlabError("knockoff: give at least one query budget")
    if budgets[-1] > available:
        raise AdvlabError(f"knockoff: a budget of {budgets[-1]} queries exceeds the transfer set's {available} images "
                          "(each is queried once); lower the budget or give a larger transfer set")
    return budgets


__all__ = ["SAMPLINGS", "KnockoffNets", "rewards"]
