"""Text to image (GAN-INT-CLS runs of `advlab text2image train`): does a sample show what its held-out caption asked?

From RUN/eval/text2image.json (`advlab text2image evaluate`) when the run was evaluated, else from the training
summary (summary.json): per attribute, how often the attribute classifier reads back from the samples what the
caption asked, beside chance (the text ignored) and the real held-out images (the ceiling); R-precision with
advlab's joint embedding; FID in the attribute classifier's feature space; and the evaluation's pictures (held-out
captions: the real image, then samples; the attribute chart).
"""

from __future__ import annotations

from pathlib import Path

from advlab.reports.markup import esc, html_figures, html_heading, html_table, md_heading, md_images, md_table
from advlab.reports.reading import Run, read_json_object
from advlab.reports.sections.base import RESULTS, Section, register

HEAD = ("asked of the sample", "samples", "real held-out images", "chance")
EVAL = ("eval", "text2image.json")
PICTURES = (("held-out captions: real image | samples", "text2image_samples.png"),
            ("attribute read back: chance | samples | real", "text2image_attributes.png"))


def number(value, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def rows_from_record(record: dict) -> list[tuple[str, ...]]:
    """Table rows of an evaluation record (advlab.pipelines.text2image.figures.measure)."""
    rows = [(f"attribute: {name.replace('_', ' ')}", number(v.get("samples")), number(v.get("real")),
             number(v.get("chance"))) for name, v in record.get("attributes", {}).items()]
    if "attribute_accuracy" in record:
        overall = record["attribute_accuracy"]
        rows.append(("attributes, mean", number(overall.get("samples")), number(overall.get("real")),
                     number(overall.get("chance"))))
    if "r_precision" in record:
        r = record["r_precision"]
        candidates = r.get("candidates")
        rows.append((f"R-precision ({candidates} candidates)", number(r.get("samples")), number(r.get("real")),
                     number(1 / candidates if candidates else None)))
    if "fid" in record:
        rows.append(("FID, attribute-classifier features (lower is better)", number(record["fid"].get("samples")),
                     number(record["fid"].get("real")), "-"))
    return rows


def record_from_summary(summary: dict) -> dict:
    """The evaluation record's shape rebuilt from summary.json's flat keys (figures.flat_figures)."""
    record: dict = {}
    names = [key[len("accuracy_"):] for key in summary if key.startswith("accuracy_")]
    if names:
        record["attributes"] = {name: {"samples": summary.get(f"accuracy_{name}"),
                                       "real": summary.get(f"real_{name}"), "chance": summary.get(f"chance_{name}")}
                                for name in names}
        record["attribute_accuracy"] = {"samples": summary.get("attribute_accuracy"),
                                        "real": summary.get("real_attribute_accuracy"),
                                        "chance": summary.get("chance_accuracy")}
    if "r_precision" in summary:
        record["r_precision"] = {"samples": summary.get("r_precision"), "real": summary.get("real_r_precision"),
                                 "candidates": summary.get("r_precision_candidates")}
    if "fid" in summary:
        record["fid"] = {"samples": summary.get("fid"), "real": summary.get("real_fid")}
    return record


@register
class TextToImage(Section):
    title, order = "Text to image: samples for held-out captions", RESULTS

    def applies(self, run: Run) -> bool:
        return run.kind == "text2image" and bool(self.collect(run)[1])

    def collect(self, run: Run) -> tuple[str, list[tuple[str, ...]], list[tuple[str, Path]]]:
        path = run.root.joinpath(*EVAL)
        record = read_json_object(path) if path.is_file() else None
        if record:
            source = f"`advlab text2image evaluate`: {record.get('samples')} held-out captions, step " \
                     f"{record.get('step')}, seed {record.get('seed')}"
        else:
            record = record_from_summary(run.summary)
            source = f"end of training: {run.summary.get('eval_samples')} held-out captions"
        pictures = [(caption, run.root / "eval" / name) for caption, name in PICTURES
                    if record is not None and (run.root / "eval" / name).is_file()]
        return source, rows_from_record(record or {}), pictures

    def html(self, view, base: Path, level: int) -> str:
        source, rows, pictures = view
        parts = [html_heading(level, self.title), f"<p>{esc(source)}</p>", html_table(HEAD, rows)]
        if pictures:
            parts.append(html_figures(pictures, base, "lead"))
        return "\n".join(parts)

    def markdown(self, view, base: Path, level: int) -> str:
        source, rows, pictures = view
        parts = [md_heading(level, self.title), source, md_table(HEAD, rows)]
        if pictures:
            parts.append(md_images(pictures, base))
        return "\n\n".join(parts)

    def headline(self, view) -> tuple[str, Path] | None:
        pictures = view[2]
        return ("samples for held-out captions", pictures[0][1]) if pictures else None


__all__ = ["TextToImage"]
