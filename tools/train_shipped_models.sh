#!/usr/bin/env bash
# The three shipped models, trained one after another on this CPU (2 cores).
# Prerequisite: mkdir -p .data && tar xzf ../shared/data/cifar10/cifar10_jpeg_q75.tar.gz -C .data
# Measured here (2-core AMD EPYC, bf16 + channels_last, shared with other jobs): natural 36 min,
# fast-AT 26 min, Gaussian 25 min of wall time.
set -u
cd "$(dirname "$0")/.." && . .venv/bin/activate
D=folder:.data/cifar10-jpeg
T=npz:../shared/data/cifar10/test_lossless_1028.npz
COMMON="--model resnet20 --data $D --test-data $T --bf16 --channels-last --device cpu --threads 2 --seed 0 --weight-decay 5e-4 --quiet"
export OMP_NUM_THREADS=2
mkdir -p runs
run() { local name=$1; shift; /usr/bin/time -v bandlimit train $COMMON "$@" --out runs/$name > runs/$name.log 2>&1; echo "$name exit $?" >> runs/train_all.status; }
run resnet20-natural --recipe natural --epochs 30 --batch-size 256 --lr 0.2 --schedule onecycle --label-smoothing 0.1
run resnet20-fastat --recipe fast_fgsm_rs --eps 8/255 --step-size 10/255 --schedule cyclic --lr 0.2 --epochs 15 --batch-size 128 --label-smoothing 0
run resnet20-gaussian --recipe gaussian --sigma 0.1 --sigma-mode fixed --epochs 25 --batch-size 256 --lr 0.2 --schedule onecycle
