"""``bandlimit spectrum``: what adversarial perturbations look like in frequency.

Examples::

    bandlimit spectrum --model resnet20-natural --attack pgd --attack simba:max_queries=1000 --n 200
    bandlimit spectrum --model ckpt.pt --attack pgd:band=low --attack pgd:band=high --eps 8/255
    bandlimit spectrum --model ckpt.pt --attack pgd --filtered      # + accuracy vs bandwidth

For each attack (run on the correctly classified samples, every output verified) it reports
the centred mean ``|F(x_adv - x)|``, its radial profile and the share of the perturbation
energy in the low / mid / high bands (edges ``--low`` / ``--high`` as fractions of Nyquist).
Writes ``results.json``, ``figures/spectra.png``, ``figures/radial_profiles.png``,
``report.html`` and ``config.toml``.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from bandlimit.cli import _output, names
from bandlimit.cli._settings import COMMON_DEFAULTS, add_command, resolve_settings

__all__ = ["filtered_section", "register", "run", "spectrum_section"]

DEFAULTS: dict[str, Any] = {
    **COMMON_DEFAULTS,
    "norm": "linf",
    "attack": ["pgd"],
    "low": 0.25,
    "high": 0.5,
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``spectrum`` sub-command."""
    summary = "perturbation spectra per attack: mean |F(x_adv - x)|, radial profile, band energies"
    p = add_command(subparsers, "spectrum", run, help=summary, doc=__doc__, common=True)
    a = p.add_argument_group("attacks and bands")
    a.add_argument("--attack", action="append", metavar="SPEC", help="NAME[:key=value,...] (repeatable; default pgd)")
    a.add_argument("--eps", help="comma-separated budgets for attacks without one (default 8/255 L∞, 0.5 L2)")
    a.add_argument("--norm", choices=("linf", "l2"), help="threat norm of attacks that take one (default linf)")
    a.add_argument("--low", type=float, help="upper edge of the low band, fraction of Nyquist (default 0.25)")
    a.add_argument("--high", type=float, help="lower edge of the high band, fraction of Nyquist (default 0.5)")
    a.add_argument("--filtered", action="store_const", const=True, default=None, help="also accuracy vs bandwidth")


def spectrum_section(
    model: Any,
    data: Any,
    attacks: list[Any],
    settings: dict[str, Any],
    reporter: _output.Reporter,
    folder: Any,
    *,
    n: int | None,
    json_name: str,
) -> tuple[Any, _output.Section]:
    """Run the attacks, measure their perturbation spectra, write ``json_name``, draw the figures.

    Returns the report and its section.
    """
    from bandlimit._torch import model_device
    from bandlimit.evaluation import SpectrumReport, perturbation_spectrum
    from bandlimit.reports import plot_radial_profiles, plot_spectra

    with reporter.task("spectrum") as progress:
        report = perturbation_spectrum(
            model,
            data,
            list(attacks),
            low=settings.get("low", 0.25),
            high=settings.get("high", 0.5),
            n=n,
            batch_size=settings["batch_size"],
            device=model_device(model),
            seed=settings["seed"],
            progress=progress,
        )
    if not isinstance(report, SpectrumReport):  # one attack gives a bare SpectrumResult
        report = SpectrumReport(spectra=[report], config=report.config, seed=settings["seed"], environment={})
    folder.write_json(json_name, report)  # the numbers first: a failed drawing keeps them
    spectra = {s.label: s.spectrum for s in report.spectra}
    folder.figure(
        "spectra",
        plot_spectra,
        spectra,
        caption="Mean |F(x_adv - x)| per attack, centred (DC in the middle), log10 colour scale.",
    )
    folder.figure(
        "radial_profiles",
        plot_radial_profiles,
        {s.label: (s.radii, s.profile) for s in report.spectra},
        caption="Radial profile of the mean perturbation spectrum (radius in cycles per image).",
    )
    lo, hi = report.config["low"], report.config["high"]
    rows = [
        {
            "attack": s.label,
            "perturbations": s.n,
            "fooled": s.success_rate if s.success_rate is not None else float("nan"),
            f"low (<{lo:g})": s.band_energy["low"],
            "mid": s.band_energy["mid"],
            f"high (>={hi:g})": s.band_energy["high"],
        }
        for s in report.spectra
    ]
    columns = list(rows[0]) if rows else ["attack"]
    section = _output.Section(
        "Perturbation spectra",
        tables=[("Share of perturbation energy per band (fraction of Nyquist)", rows, columns, columns[2:])],
        figures=["spectra", "radial_profiles"],
    )
    return report, section


def filtered_section(
    model: Any,
    data: Any,
    settings: dict[str, Any],
    reporter: _output.Reporter,
    folder: Any,
    *,
    n: int | None,
    json_name: str,
) -> tuple[Any, _output.Section]:
    """Accuracy on low-/high-pass filtered images and on the LFC/HFC split: ``json_name``, then figures."""
    from bandlimit._torch import model_device
    from bandlimit.evaluation import filtered_accuracy
    from bandlimit.reports import plot_accuracy_vs_bandwidth

    with reporter.task("filtered accuracy") as progress:
        result = filtered_accuracy(
            model, data, n=n, batch_size=settings["batch_size"], device=model_device(model), progress=progress
        )
    folder.write_json(json_name, result)
    # Yin et al.'s low-/high-pass curves, and Wang et al.'s low/high-frequency components when measured.
    low_high = {
        "accuracy_vs_bandwidth": (
            {
                "low-pass (B×B kept)": (result.bandwidths, result.lowpass_accuracy),
                "high-pass (B×B removed)": (result.bandwidths, result.highpass_accuracy),
            },
            f"Accuracy on filtered images vs bandwidth B ({result.n} images; Yin et al.).",
            {},
        ),
    }
    if result.radii:
        low_high["accuracy_vs_radius"] = (
            {
                "low-frequency component": (result.radii, result.low_accuracy),
                "high-frequency component": (result.radii, result.high_accuracy),
            },
            f"Accuracy on the low/high-frequency components vs radius r ({result.n} images; Wang et al.).",
            {"xlabel": "radius r (cycles / image)", "title": "Accuracy on frequency components"},
        )
    for name, (curves, caption, labels) in low_high.items():
        folder.figure(name, plot_accuracy_vs_bandwidth, curves, caption=caption, **labels)
    rows = [
        {"bandwidth B": b, "low-pass": lo, "high-pass": hi}
        for b, lo, hi in zip(result.bandwidths, result.lowpass_accuracy, result.highpass_accuracy, strict=True)
    ]
    section = _output.Section(
        "Accuracy on filtered images",
        tables=[
            (
                f"Accuracy vs bandwidth ({result.n} images, clean {result.clean_accuracy:.1%})",
                rows,
                ["bandwidth B", "low-pass", "high-pass"],
                ["low-pass", "high-pass"],
            )
        ],
        figures=list(low_high),
    )
    return result, section


def run(args: argparse.Namespace) -> int:
    """Run ``bandlimit spectrum``; returns the exit code."""
    from bandlimit.attack import eps_text
    from bandlimit.cli.specs import parse_eps_list

    settings = resolve_settings(args, args._parser, DEFAULTS)
    low, high = settings["low"], settings["high"]
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
        raise ValueError(f"--low/--high: expected 0 <= low <= high (fractions of Nyquist), got {low} and {high}")
    norm = settings["norm"]
    raw = settings.get("eps")
    eps_list = parse_eps_list(raw, norm=norm) if raw is not None else [8 / 255 if norm == "linf" else 0.5]
    attacks = names.build_attacks(list(settings["attack"]), eps_list, norm)
    settings["eps"] = ",".join(eps_text(e, norm) for e in eps_list)

    def analyse(model: Any, data: Any, reporter: _output.Reporter, folder: Any) -> list[_output.Section]:
        n = settings.get("n")
        sections = [
            spectrum_section(model, data, attacks, settings, reporter, folder, n=n, json_name="results.json")[1]
        ]
        if settings.get("filtered"):
            sections.append(
                filtered_section(model, data, settings, reporter, folder, n=n, json_name="filtered.json")[1]
            )
        return sections

    return _output.run_in_one_process("spectrum", settings, analyse, files="results.json, figures/, report.html")
