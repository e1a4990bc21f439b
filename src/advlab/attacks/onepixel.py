"""The One-Pixel attack: differential evolution over a few pixels' places and colours (L0).

Su, Vargas & Sakurai 2019, "One Pixel Attack for Fooling Deep Neural Networks", sec. 3. A candidate
solution is ``pixels`` tuples (row, column, one value per channel); it is the image with those pixels
set to those values. A population of P candidates evolves by DE/rand/1 without crossover (sec. 3.2):
each parent x_i(g) has a child

    x_i(g + 1) = x_r1(g) + F (x_r2(g) - x_r3(g)),     r1, r2, r3 distinct (and != i), F = 0.5,

and the child replaces its parent (same index) if its fitness is better. The fitness is the model's
probability of the true class, to lower (untargeted), or of the target class, to raise (targeted): the
attack only reads the probabilities (black-box). The paper's defaults: P = 400, 100 iterations; the
first population draws places uniformly and values from N(128, 127) (of 255; here N(128/255, 127/255)
clipped to [0, 1]). A child's place that leaves the image is drawn again uniformly (as scipy's
differential_evolution, which the authors used, handles bounds) and its values are clipped to [0, 1]; a
place is the integer part of the real coordinate.

Early stop: an image stops as soon as one of its candidates fools the model (any class but the true one,
or the target), and that candidate is returned (the best-fitness one if several do); otherwise the
population's best candidate after the last iteration. The paper stops on thresholds instead (target
probability above 50 % on CIFAR-10 targeted, true-class probability below 20 % on ImageNet).

Queries: the clean pass (the base class's), P for the first population and P per iteration, each
population one model call (in groups that bound the memory): at most 1 + P (iterations + 1) per image,
exactly counted in ``queries``. With a mask, a candidate's pixels outside it stay clean (such a candidate
changes fewer pixels; it is still queried).

Differences from the peers: torchattacks' OnePixel and ART's PixelAttack both run scipy's default
strategy, DE/best/1 (the child built around the population's best, not a random member) with a dithered
F drawn from [0.5, 1) each generation, and recombination = 1 (no crossover); torchattacks' ``popsize`` is
scipy's multiplier (its default 10 gives 9 candidates for one grey pixel), ART's is 400 // (2 + C) per
parameter (~400 candidates, the paper's). ART works on 0..255 integer values. Both query the population's
best candidate once more per generation to test success (advlab reads it off the population's own query).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.base import Attack
from advlab.attacks.nes import image_groups
from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError

VALUE_MEAN, VALUE_STD = 128 / 255, 127 / 255  # the paper's N(128, 127) for the first values, in [0, 1]


class OnePixel(Attack):
    """One-Pixel attack (Su et al. 2019): ``OnePixel(model, pixels=1, population=400)(images, labels)``.

    Args:
        model: maps images (N, C, H, W) in [0, 1] to logits (N, classes).
        pixels: how many pixels a candidate changes (the L0 budget, in pixels of all channels).
        population: candidates per image (the paper's 400); each costs one query per iteration.
        iterations: generations after the first population (the paper's 100).
        mutation: the DE scale F of x_r1 + F (x_r2 - x_r3) (the paper's 0.5).
        targeted: labels are target classes (raise their probability).
        seed: seed of the evolution (None: torch's global generator).
    """

    name = "one-pixel"
    paper = "Su, Vargas & Sakurai 2019, One Pixel Attack for Fooling Deep Neural Networks"
    norm = "l0"
    black_box = True

    def __init__(self, model: nn.Module, pixels: int = 1, population: int = 400, iterations: int = 100,
                 mutation: float = 0.5, targeted: bool = False, seed: int | None = None):
        super().__init__(model, eps=None, targeted=targeted, seed=seed)
        self.pixels = check_int(f"{self.name}: pixels", pixels, 1)
        self.population = check_int(f"{self.name}: population (DE/rand/1 needs 4 candidates)", population, 4)
        self.iterations = check_int(f"{self.name}: iterations", iterations, 0)
        self.mutation = check_number(f"{self.name}: mutation", mutation, 0.0, strict=True)
        if self.mutation > 2:
            raise AdvlabError(f"{self.name}: mutation (DE's F) must lie in (0, 2], got {mutation!r}")

    def max_queries(self) -> int:
        """The most queries an image costs, the clean pass included."""
        return 1 + self.population * (self.iterations + 1)

    # ------------------------------------------------------------------ the evolution

    def perturb(self, images: Tensor, labels: Tensor, mask: Tensor | None) -> Tensor:
        if images.ndim != 4:
            raise AdvlabError(f"{self.name}: images must have shape (N, C, H, W), got {tuple(images.shape)}")
        height, width = images.shape[2:]
        if self.pixels > height * width:
            raise AdvlabError(f"{self.name}: pixels = {self.pixels} is more than the {height} x {width} = "
                              f"{height * width} pixels of an image")
        self.queries = torch.ones(len(images), dtype=torch.int64, device=images.device)
        todo = (~self.goal(self.clean_logits, labels)).nonzero().flatten()
        adversarial = images.clone()
        if len(todo):
            part_mask = None if mask is None else mask[todo]
            best, spent = self.evolve(images[todo], labels[todo], part_mask, self.generator(images.device))
            adversarial[todo] = best
            self.queries[todo] = spent
        return adversarial

    def evolve(self, images: Tensor, labels: Tensor, mask: Tensor | None,
               generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """DE on the images (all still classified as the label / not as the target): (results, queries)."""
        n = len(images)
        result = images.clone()
        spent = torch.full((n,), 1 + self.population, dtype=torch.int64, device=images.device)
        parents = self.first_population(images, generator)
        fitness, fooled = self.evaluate(images, labels, parents, mask)
        live = torch.arange(n, device=images.device)
        for generation in range(self.iterations + 1):
            live, parents, fitness = self.retire(live, parents, fitness, fooled, images, labels, mask, result)
            if len(live) == 0 or generation == self.iterations:
                break
            children = self.mutate(parents, images.shape[2:], generator)
            child_fitness, fooled = self.evaluate(images[live], labels[live], children, None if mask is None
                                                  else mask[live])
            spent[live] += self.population
            better = (child_fitness < fitness) | fooled
            parents = torch.where(better[..., None, None], children, parents)
            fitness = torch.where(better, child_fitness, fitness)
        if len(live):  # the budget is spent: the best candidate of each population
            best = parents[torch.arange(len(live), device=images.device), fitness.argmin(1)]
            part_mask = None if mask is None else mask[live]
            result[live] = self.render(images[live], best[:, None], part_mask)[:, 0]
        return result, spent

    def retire(self, live, parents, fitness, fooled, images, labels, mask, result):
        """Images with a fooling candidate take it (the best-fitness one) and leave the population."""
        done = fooled.any(1)
        if done.any():
            score = torch.where(fooled, fitness, torch.inf)
            winners = parents[done.nonzero().flatten(), score[done].argmin(1)]
            rows = live[done]
            result[rows] = self.render(images[rows], winners[:, None], None if mask is None else mask[rows])[:, 0]
            keep = ~done
            live, parents, fitness = live[keep], parents[keep], fitness[keep]
        return live, parents, fitness

    def first_population(self, images: Tensor, generator: torch.Generator | None) -> Tensor:
        """(n, P, pixels, 2 + C): places uniform over the image, values from the paper's N(128, 127) / 255."""
        n, channels, height, width = images.shape
        shape = (n, self.population, self.pixels)
        rows = torch.rand(shape, generator=generator, device=images.device) * height
        cols = torch.rand(shape, generator=generator, device=images.device) * width
        values = torch.randn((*shape, channels), generator=generator, device=images.device) * VALUE_STD + VALUE_MEAN
        return torch.cat([rows[..., None], cols[..., None], values.clamp(0.0, 1.0)], dim=-1).to(images.dtype)

    def mutate(self, parents: Tensor, size: tuple[int, int], generator: torch.Generator | None) -> Tensor:
        """DE/rand/1 children x_r1 + F (x_r2 - x_r3); places off the image redrawn, values clipped."""
        n, population = parents.shape[:2]
        r1, r2, r3 = donors(n, population, generator, parents.device)
        rows = torch.arange(n, device=parents.device)[:, None]
        children = parents[rows, r1] + self.mutation * (parents[rows, r2] - parents[rows, r3])
        for axis, length in enumerate(size):
            place = children[..., axis]
            outside = (place < 0) | (place >= length)
            fresh = torch.rand(place.shape, generator=generator, device=place.device, dtype=place.dtype) * length
            children[..., axis] = torch.where(outside, fresh, place)
        children[..., 2:] = children[..., 2:].clamp(0.0, 1.0)
        return children

    def render(self, images: Tensor, candidates: Tensor, mask: Tensor | None) -> Tensor:
        """(n, P, C, H, W): each image with each of its P candidates' pixels written (later ones win)."""
        n, population = candidates.shape[:2]
        channels, height, width = images.shape[1:]
        rendered = images[:, None].expand(n, population, channels, height, width).reshape(
            n * population, channels, height * width).clone()
        flat = candidates.reshape(n * population, self.pixels, 2 + channels)
        places = (flat[..., 0].long().clamp(0, height - 1) * width + flat[..., 1].long().clamp(0, width - 1))
        for pixel in range(self.pixels):  # one pixel at a time: a place written twice keeps the later value
            index = places[:, pixel, None, None].expand(-1, channels, 1)
            rendered.scatter_(2, index, flat[:, pixel, 2:, None])
        rendered = rendered.view(n, population, channels, height, width)
        return rendered if mask is None else torch.where(mask[:, None], rendered, images[:, None])

    def evaluate(self, images: Tensor, labels: Tensor, candidates: Tensor,
                 mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """One query per candidate: (fitness to lower, fools the model), each (n, P)."""
        fitness, fooled = [], []
        per_image = self.population * images[0].numel()
        for group in image_groups(len(images), per_image):
            part_mask = None if mask is None else mask[group]
            rendered = self.render(images[group], candidates[group], part_mask)
            logits = self.predict(rendered.flatten(0, 1))
            goal = labels[group].repeat_interleave(self.population)
            probability = F.softmax(logits, dim=1).gather(1, goal[:, None])[:, 0]
            fitness.append((-probability if self.targeted else probability).view(-1, self.population))
            fooled.append(self.goal(logits, goal).view(-1, self.population))
        return torch.cat(fitness), torch.cat(fooled)


def donors(n: int, population: int, generator: torch.Generator | None, device) -> tuple[Tensor, Tensor, Tensor]:
    """(n, P) indices r1, r2, r3 per parent i: uniform, distinct, and all != i."""
    chosen = [torch.arange(population, device=device).expand(n, population)]
    for count in range(1, 4):
        draw = torch.randint(0, population - count, (n, population), generator=generator, device=device)
        for excluded in torch.stack(chosen).sort(dim=0).values:  # skip the taken indices, smallest first
            draw = draw + (draw >= excluded).long()
        chosen.append(draw)
    return chosen[1], chosen[2], chosen[3]
