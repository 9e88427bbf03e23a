"""Write the demo's results folder: results.json, config.json, environment.json, PNG figures and report.html."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bandlimit._io import jsonable
from bandlimit.cli._runs import RunFolder
from bandlimit.cli.demo.measure import DemoResult
from bandlimit.reports import HtmlReport, plot_heatmaps, plot_radial_profiles, plot_spectra

__all__ = ["COLUMN_NOTES", "PERCENT_COLUMNS", "ROW_COLUMNS", "demo_json", "finding_text", "write_demo_folder"]

#: Column order of the demo's result table (missing cells show as "–").
ROW_COLUMNS = (
    "model", "n", "clean", "PGD", "PGD-EOT", "SimBA", "transfer", "worst L∞", "Fourier", "n Fourier", "queries",
)  # fmt: skip
PERCENT_COLUMNS = ("clean", "PGD", "PGD-EOT", "SimBA", "transfer", "worst L∞", "Fourier")
COLUMN_NOTES = (
    "PGD: PGD-10 on the model itself; PGD-EOT: the same with the gradient averaged over "
    "several calls (randomised models); SimBA: SimBA-DCT black-box, L∞-bounded; transfer: "
    "small-step early-stopped PGD examples made on the undefended natural model (the protocol "
    "defence papers often report); worst L∞: a sample counts as robust only if every L∞ attack "
    "failed on it; Fourier: worst single Fourier basis image of L2 norm v per channel, on the first "
    "'n Fourier' images (n: the images of the other columns); queries: mean SimBA queries per image."
)


def demo_json(result: DemoResult) -> str:
    """The demo's numbers as JSON (what results.json holds)."""
    payload = {
        "schema": "bandlimit-demo/1",
        "config": result.config,
        "rows": result.rows,
        "verdicts": result.verdicts,
        "time_s": result.time_s,
        "evaluations": {k: {kind: v.to_dict() for kind, v in d.items()} for k, d in result.evaluations.items()},
        "heatmaps": {k: v.to_dict() for k, v in result.heatmaps.items()},
        "spectra": {k: v.to_dict() for k, v in result.spectra.items()},
    }
    return json.dumps(jsonable(payload), indent=1)


def write_demo_folder(result: DemoResult, folder: RunFolder) -> dict[str, str]:
    """Write every file of the demo into ``folder`` (numbers first, then figures) and return ``{kind: path}``."""
    out_dir = folder.path
    files: dict[str, str] = {}
    files["results"] = str(folder.write_text("results.json", demo_json(result)))
    files["config"] = str(folder.write_text("config.json", json.dumps(result.config, indent=2)))
    folder.write_environment()
    cfg = result.config
    v = cfg["fourier_norm"]
    files["heatmaps"] = str(
        folder.draw(
            "heatmaps.png",
            plot_heatmaps,
            {k: h.error for k, h in result.heatmaps.items()},
            title=f"Fourier heat maps (error rate, v = {v:g}, {cfg['n_heatmap']} CIFAR-10 sample images)",
        )
    )
    files["spectra"] = str(
        folder.draw(
            "spectra.png",
            plot_spectra,
            {k: s.spectrum for k, s in result.spectra.items()},
            title=f"Mean |F(x_adv − x)| of PGD-{cfg['pgd_steps']} at L∞ {cfg['eps'] * 255:.0f}/255",
        )
    )
    files["profiles"] = str(
        folder.draw(
            "spectra_radial.png", plot_radial_profiles, {k: (s.radii, s.profile) for k, s in result.spectra.items()}
        )
    )
    files["report"] = str(folder.write_text("report.html", _html(result, out_dir).render()))
    return files


def _html(result: DemoResult, out_dir: Path) -> HtmlReport:
    cfg = result.config
    report = HtmlReport("bandlimit demo: frequency-domain robustness of three ResNet-20s and two defences")
    report.paragraph(
        f"Data: the first {cfg['n']} images of the CIFAR-10 sample shipped with bandlimit (lossless "
        f"official test images; defended models on the first {cfg['n_defended']}). Threat model: "
        f"L∞ {cfg['eps'] * 255:.0f}/255 for PGD-{cfg['pgd_steps']}, PGD-EOT ({cfg['eot_samples']} "
        f"samples per step) and SimBA-DCT (≤ {cfg['simba_queries']} queries, "
        f"{cfg['simba_queries_defended']} on defences); Fourier-basis: worst single basis image of "
        f"L2 norm {cfg['fourier_norm']:g} per channel on {cfg['n_fourier']} images. The transfer "
        "protocol (the one defence papers often report) makes small-step, early-stopped PGD examples "
        "on the undefended natural model and shows them to the defended one. Run time "
        f"{result.time_s:.0f} s."
    )
    report.heading("What happened")
    for verdict in result.verdicts:
        report.note(verdict)
    report.heading("Robust accuracy")
    report.table(result.rows, columns=list(ROW_COLUMNS), percent=PERCENT_COLUMNS)
    report.paragraph(
        COLUMN_NOTES + " Every adversarial example was checked by the harness (budget, [0,1], NaN) and re-predicted."
    )
    report.heading("Gradient-masking checks")
    any_finding = False
    for name, evals in result.evaluations.items():
        for finding in evals["attacks"].findings:
            any_finding = True
            report.warning(finding_text(name, finding))
    if not any_finding:
        report.paragraph("No check fired on any model.")
    report.heading("Fourier heat maps")
    report.image(
        out_dir / "heatmaps.png",
        caption="Error rate under Fourier-basis noise at each frequency (DC in the centre).",
    )
    report.heading("Spectra of adversarial perturbations")
    report.image(out_dir / "spectra.png", caption="Mean magnitude of the PGD perturbation, centred, log scale.")
    report.image(out_dir / "spectra_radial.png", caption="Radial profile of the same spectra.")
    bands = [{"model": k, **{f"{b} energy": e for b, e in s.band_energy.items()}} for k, s in result.spectra.items()]
    report.table(bands, percent=[c for c in bands[0] if c != "model"] if bands else ())
    return report


def finding_text(name: str, finding: Any) -> str:
    """A masking finding as the demo shows it.

    The demo runs plain PGD on a randomised defence on purpose, beside PGD-EOT, to show the
    difference: the harness's generic advice (re-run with EOT from Python) does not apply, so
    that finding says what to read instead. Every other finding is shown as the harness wrote it.
    """
    details = getattr(finding, "details", None) or {}
    if finding.code == "randomized-model" and details.get("eot_applied") and details.get("eot_missing"):
        samples = max(details["eot_applied"].values())
        return (
            f"{name}: [{finding.severity}] randomised defence: the PGD column runs without EOT on purpose, "
            f"and over-states its robustness; read the PGD-EOT column ({samples} samples per step) and worst L∞."
        )
    return f"{name}: [{finding.severity}] {finding.message} What to do: {finding.advice}"
