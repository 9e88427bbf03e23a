"""Post-averaging: the band-limiting defence of Lin, Kasra Ahmadi & Jiang (2019).

Paper: "Bandlimiting Neural Networks Against Adversarial Attacks", arXiv 1905.12797.

The defended output is a Monte-Carlo estimate of the model averaged over a sphere around the
input,

    f̄(x) = (1/K) Σ_k f(x + r·u_k),   ‖u_k‖₂ = 1,

which multiplies the model's spectrum by the ball's (low-pass) transform: the high-frequency
part of f, blamed by the paper for adversarial vulnerability, is damped. Everything is measured
in [0, 1] pixel space over the whole image (C·H·W values), like every radius in bandlimit.

Units, compared with the reference port (max-andr/square-attack, ``post_avg/``): that code
perturbs the *normalised* input (ImageNet mean/std, std ≈ 0.226), so its CIFAR-10 setting
R = 6 is an L2 radius of about 6 × 0.226 ≈ 1.35 in [0, 1] pixel units (not 6/255), and it
averages softmax probabilities over the clean point plus ±u_k at radii R/3, 2R/3 and R. This
module implements the paper's estimator (one sphere); sweep ``radius`` to compare.

The K·B perturbed images go through the model as one batched forward (split into chunks of
``chunk_size`` images; on the CPU 32 by default), so the cost is that of K plain forwards. Gradients flow to
the input, so white-box attacks with EOT (``attacks.PGD(..., eot_samples=n)``) can attack the
averaged model directly; that adaptive attack, not the paper's transfer protocol, is the
honest robustness test.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from bandlimit._checks import check_bool, check_choice, check_nonnegative, check_positive_int
from bandlimit._torch import first_forward, model_dtype, pass_size
from defenses._layer import DefenceLayer

__all__ = ["AVERAGES", "DIRECTIONS", "PostAveraging", "sample_directions"]

#: How unit directions are drawn; see :func:`sample_directions`.
DIRECTIONS = frozenset({"gaussian", "orthogonal", "antithetic"})
#: What is averaged over the K points.
AVERAGES = frozenset({"logits", "probs"})


def sample_directions(
    num: int,
    samples: int,
    shape: tuple[int, ...],
    *,
    kind: str = "gaussian",
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Draw ``samples`` unit-L2-norm directions for each of ``num`` inputs.

    Args:
        num: Number of independent direction sets (e.g. the batch size).
        samples: Directions per set, K.
        shape: Shape of one direction, e.g. ``(C, H, W)``; the norm is taken over all of it.
        kind: ``"gaussian"``: u = g/‖g‖ with g standard normal (uniform on the sphere);
            ``"orthogonal"``: the K columns of Q from the QR decomposition of a Gaussian
            D×K matrix, sign-corrected so the frame is Haar-distributed (needs K ≤ D);
            ``"antithetic"``: K/2 Gaussian directions followed by their negatives, so
            ``u[:, k] == -u[:, k + K/2]`` (needs an even K).
        generator: Source of randomness on ``device`` (None: the global RNG).
        device: Device of the result.
        dtype: Floating dtype of the result.

    Returns:
        Tensor ``(num, samples, *shape)``; every ``[i, k]`` slice has L2 norm 1.

    Raises:
        ValueError: unknown ``kind``, K > D for ``"orthogonal"``, odd K for ``"antithetic"``.
        TypeError: ``shape`` is not a tuple of positive ints.
    """
    check_positive_int(num, "num")
    check_positive_int(samples, "samples")
    check_choice(kind, "directions", DIRECTIONS)
    if not isinstance(shape, (tuple, list, torch.Size)) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape
    ):
        raise TypeError(f"shape: expected a tuple of positive ints such as (3, 32, 32), got {shape!r}")
    dim = math.prod(shape)
    _check_samples_fit(kind, samples, dim)
    # Half-precision Gaussians and QR are poor; draw in float32 at least, cast at the end.
    work = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    opts: dict[str, Any] = {"generator": generator, "device": device, "dtype": work}
    if kind == "orthogonal":
        g = torch.randn(num, dim, samples, **opts)
        q, r = torch.linalg.qr(g, mode="reduced")
        # Multiplying column j by sign(R_jj) makes Q Haar-distributed (Mezzadri 2007); the raw
        # LAPACK sign convention would bias the directions.
        signs = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
        signs = torch.where(signs == 0, torch.ones_like(signs), signs)
        u = (q * signs.unsqueeze(-2)).transpose(1, 2)
    else:
        half = samples // 2 if kind == "antithetic" else samples
        g = torch.randn(num, half, dim, **opts)
        u = g / torch.linalg.vector_norm(g, dim=-1, keepdim=True)
        if kind == "antithetic":
            u = torch.cat([u, -u], dim=1)
    return u.reshape(num, samples, *shape).to(dtype)


def _check_samples_fit(kind: str, samples: int, dim: int | None) -> None:
    """Raise if ``samples`` directions of kind ``kind`` cannot exist in ``dim`` dimensions."""
    if kind == "antithetic" and samples % 2:
        raise ValueError(
            f"samples: expected an even number for directions='antithetic' (pairs u, -u), "
            f"got {samples}; use {samples - 1} or {samples + 1}"
        )
    if kind == "orthogonal" and dim is not None and samples > dim:
        raise ValueError(
            f"samples: expected at most C*H*W = {dim} mutually orthogonal directions, got "
            f"{samples}; use fewer samples or directions='gaussian'"
        )


class PostAveraging(DefenceLayer):
    """Average a model's output over K points on an L2 sphere around the input (defence ``"postavg"``).

    ``PostAveraging(model, radius=r)(x)`` returns ``(1/K) Σ_k model(x + r·u_k)`` for unit
    directions u_k, i.e. a defended model from [0, 1] images to logits.

    Randomness: by default every call draws fresh directions, independently for every image,
    from an internal ``torch.Generator`` (seeded non-deterministically, or from ``generator``);
    the global RNG is never used. With ``seed=int`` the K directions are drawn once from that
    seed (on the CPU, so identical on every device), shared by every image, and reused on every
    call: the defence is then a fixed deterministic function (``randomized`` is False), which
    is what gradient checks and reproducible evaluations need.

    Args:
        model: Classifier from [0, 1] images ``(N, C, H, W)`` to logits ``(N, classes)``.
        radius: Sphere radius r ≥ 0 in [0, 1] pixel units, L2 over C·H·W (rms per pixel is
            r/√(C·H·W)). ``radius=0`` returns the model's own output (one plain forward).
        samples: Number of points K ≥ 1 (for ``"antithetic"``, an even number: K/2 pairs).
        directions: ``"gaussian"`` (uniform on the sphere), ``"orthogonal"`` (K orthonormal
            directions, K ≤ C·H·W) or ``"antithetic"`` (pairs u, -u, which cancel the linear
            term of the model around x exactly); see :func:`sample_directions`.
        average: ``"logits"`` (default; the paper analyses the pre-softmax output of the ReLU
            network) or ``"probs"``: average the softmax probabilities and return their log,
            ``log((1/K) Σ_k softmax(f(x_k)))``, so the output stays logit-like (its softmax is
            the mean probability and cross-entropy losses work on it unchanged).
        chunk_size: Largest number of perturbed images per model call. None: all K·B at once
            on an accelerator, :data:`bandlimit._torch.CPU_PASS_SIZE` (32) on the CPU, where one
            huge batch falls out of cache and runs slower per image (see
            ``benchmarks/bench_defenses.py``). Bounds activation memory in inference; under
            autograd every chunk's graph is kept until backward, so lower the batch size too.
        seed: Fixed-directions mode (see above). Mutually exclusive with ``generator``.
        generator: Source for the fresh draws (a reproducible *sequence* of fresh directions);
            its device is used for inputs on that device, other devices get a generator
            seeded from it.
        clip: Clamp the points to [0, 1] before the model sees them. Default False, like Lin
            et al. (their port perturbs the normalised input and never clips): clipping moves
            points off the sphere, biasing the average toward the image border values, and
            zeroes their input gradient component. At CIFAR radii (r ≲ 2, rms per pixel
            ≲ 0.04) only pixels near 0 or 1 are affected.

    Raises:
        ValueError: bad ``radius``, ``samples``, ``chunk_size`` or option strings, or both
            ``seed`` and ``generator`` given.
        TypeError: ``model`` is not an ``nn.Module``.
    """

    #: The name :data:`defenses.DEFENSES` knows it by.
    name: ClassVar[str] = "postavg"
    settings = ("radius", "samples", "directions", "average", "seed", "clip")

    def __init__(
        self,
        model: nn.Module,
        *,
        radius: float,
        samples: int = 15,
        directions: str = "gaussian",
        average: str = "logits",
        chunk_size: int | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        clip: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.radius = check_nonnegative(radius, "radius")
        self.samples = check_positive_int(samples, "samples")
        self.directions = check_choice(directions, "directions", DIRECTIONS)
        self.average = check_choice(average, "average", AVERAGES)
        _check_samples_fit(self.directions, self.samples, None)
        if chunk_size is not None:
            check_positive_int(chunk_size, "chunk_size")
        self.chunk_size = chunk_size
        if seed is not None and generator is not None:
            raise ValueError(
                "seed/generator: expected at most one of them, got both; seed fixes the "
                "directions, generator drives fresh ones"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed: expected an int or None, got {type(seed).__name__}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
        self.seed = seed
        self.clip = check_bool(clip, "clip")
        # Per-device generators for fresh draws; plain attributes, never saved in state_dict.
        self._generators: dict[torch.device, torch.Generator] = {}
        if generator is not None:
            self._generators[torch.device(generator.device)] = generator
        # Fixed directions (seeded mode), cached per (shape, device, dtype).
        self._fixed: dict[tuple[Any, ...], Tensor] = {}
        meta = getattr(model, "bandlimit_meta", None)
        if isinstance(meta, dict):
            self.bandlimit_meta = {**meta, "defense": {"name": "post_averaging", **self.config}}

    @property
    def randomized(self) -> bool:
        """True when every call draws fresh directions (no ``seed``) and ``radius`` > 0."""
        return self.seed is None and self.radius > 0

    def extra_repr(self) -> str:
        """Settings shown by ``repr``."""
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items())

    def _generator(self, device: torch.device) -> torch.Generator:
        """The fresh-draw generator for ``device`` (created on first use)."""
        gen = self._generators.get(device)
        if gen is None:
            gen = torch.Generator(device=device)
            if self._generators:
                # Derive from the user's generator so the whole sequence is reproducible.
                parent = next(iter(self._generators.values()))
                seed = torch.randint(0, 2**62, (1,), generator=parent, device=parent.device)
                gen.manual_seed(int(seed))
            else:
                gen.seed()  # non-deterministic seed for this generator only
            self._generators[device] = gen
        return gen

    def unit_directions(self, x: Tensor) -> Tensor:
        """The unit directions the next forward on ``x`` would use.

        Returns ``(B, K, C, H, W)`` for fresh draws and ``(1, K, C, H, W)`` (shared by the
        batch) in seeded mode. In fresh mode this consumes randomness.
        """
        shape = tuple(x.shape[1:])
        _check_samples_fit(self.directions, self.samples, math.prod(shape))
        if self.seed is None:
            return sample_directions(
                x.shape[0], self.samples, shape, kind=self.directions,
                generator=self._generator(x.device), device=x.device, dtype=x.dtype,
            )  # fmt: skip
        key = (shape, x.device, x.dtype)
        fixed = self._fixed.get(key)
        if fixed is None:
            # Drawn in float64 on the CPU from the seed, so every device and dtype sees the
            # same directions (up to the final rounding).
            # Built outside inference mode: a cached inference tensor would break a later
            # differentiable call.
            gen = torch.Generator().manual_seed(self.seed)
            with torch.inference_mode(False), torch.no_grad():
                fixed = sample_directions(
                    1, self.samples, shape, kind=self.directions, generator=gen, dtype=torch.float64
                ).to(device=x.device, dtype=x.dtype)
            self._fixed[key] = fixed
        return fixed

    def points(self, x: Tensor) -> Tensor:
        """The K perturbed copies of every image: ``(B, K, C, H, W)`` (clipped if ``clip``)."""
        self._check_input(x)
        pts = x.unsqueeze(1) + self.radius * self.unit_directions(x)
        return pts.clamp(0.0, 1.0) if self.clip else pts

    def forward(self, x: Tensor) -> Tensor:
        """Averaged logits ``(B, classes)`` (log mean probabilities if ``average="probs"``)."""
        self._check_input(x)
        if self.radius == 0:
            # Every point equals x: one forward gives the exact average.
            logits = self.model(x)
            return torch.log_softmax(logits, dim=1) if self.average == "probs" else logits
        pts = self.points(x)
        b, k = pts.shape[0], pts.shape[1]  # K points per image (a subclass may add more)
        flat = pts.reshape(b * k, *x.shape[1:])
        chunk = pass_size(self.chunk_size, flat.device, None) or flat.shape[0]
        # first_forward: a wrong channel count or dtype is named, not reported from inside a conv.
        what = f"x ({k} perturbed copies of each image)"
        outs = [first_forward(self.model, part, what) for part in flat.split(chunk)]
        logits = outs[0] if len(outs) == 1 else torch.cat(outs)
        if logits.dim() != 2 or logits.shape[0] != b * k:
            raise ValueError(
                f"model output: expected logits of shape ({b * k}, classes) for {b * k} "
                f"perturbed images, got {tuple(logits.shape)}"
            )
        logits = logits.reshape(b, k, -1)
        if self.average == "logits":
            return logits.mean(dim=1)
        # log-mean-exp of log-probabilities: stable even when some probabilities underflow.
        return torch.logsumexp(torch.log_softmax(logits, dim=2), dim=1) - math.log(k)

    def _check_input(self, x: Any) -> None:
        """Cheap checks only (no range scan: it would force a device sync on every call)."""
        if not isinstance(x, Tensor):
            raise TypeError(f"x: expected a torch.Tensor (N, C, H, W), got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"x: expected a floating-point image tensor in [0, 1], got {x.dtype}")
        if x.dim() != 4 or x.shape[0] == 0:
            raise ValueError(f"x: expected a non-empty batch (N, C, H, W), got {tuple(x.shape)}")
        dtype = model_dtype(self.model)
        if dtype is not None and x.dtype != dtype:
            # A layer does not convert its input (attacks and the evaluation harness do, safely).
            raise TypeError(
                f"x: expected {dtype} images like the wrapped model's weights, got {x.dtype}; "
                f"convert them with x.to({dtype})"
            )

    def __getstate__(self) -> dict[str, Any]:
        # torch.Generator objects do not pickle or deepcopy portably; a copy starts fresh.
        state = self.__dict__.copy()
        state["_generators"] = {}
        state["_fixed"] = {}
        return state
