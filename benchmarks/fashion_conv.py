"""Which conv net to ship as the fashion-conv preset, chosen on Fashion-MNIST's
validation split alone, and its test accuracy (measured once, for the winner).

    python benchmarks/fashion_conv.py [--work DIR] [--epochs N] [--only K,K] [--no-choice] [--no-train]
                                      [--refit K] [--rows-from JSON] [--quick] [--threads N]
                                      [--out benchmarks/results]

Every candidate has the fashion-conv preset's settings (softmax +
log-likelihood, float32, Adam, eta 1e-3, mini-batch 64, early stopping after
4 with the best epoch's weights restored, seed 0) with the changes of
CANDIDATES: its layers (``anynet train --layers`` text), its ``--augment``
(None, "mirror": each training image also mirrored left to right,
"mirror+shift": mirrored and all shifted by a pixel four ways), its epochs
at most and its eta schedule (PLATEAU: halved after 2 epochs without a
better validation accuracy, stopping at eta0/64; or fixed epochs).  Training uses the first
50,000 training images (before augmentation), selection the other 10,000 (the book's validation
split); the test images are read once, for the winner only, after the choice.
Each candidate's run is checkpointed under ``--work`` after every epoch
(``cand-K.run.npz``, its row ``cand-K.json``, its time ``cand-K.spent.json``)
and its best network saved when it finishes (``cand-K.npz``): a finished
candidate is not trained again, and one stopped at a time budget (the process
killed) continues bit for bit from its last epoch when trained again;
``--only`` trains just those candidates (numbers from 1) and chooses among the
ones saved; ``--no-train`` chooses among what is saved, a stopped candidate by
the best epoch its checkpoint holds (its row says ``finished: false``).
Candidates 1-9 ran before runs were checkpointed: their files are the row and
the best network so far (one stopped, trained again, starts again from its
first epoch).  A run's files are its state: remove all of a candidate's
``cand-K.*`` to train it anew.  Time is the process's CPU time per candidate
(pausing the process does not add to it; a resumed run adds its processes').
Writes ``fashion-conv-<machine>.json`` and ``.png``
(validation accuracy per epoch).  ``--refit K``: candidate K's recipe
trained again on all 60,000 training images for its run's epochs up to the
best one with the etas it had (as GridSearchCV(refit=True) does; what a
``-60k`` preset holds; a candidate stopped at a time budget counts the
epochs it ran; checkpointed as a candidate is); the choice reports the winner's refit's test accuracy too,
where one was trained.  ``--rows-from JSON``: an earlier choice's results
file gives the rows of the candidates with no files under ``--work`` (a new
machine's work folder starts empty): each keeps the CPU model it ran on
(rows record it), and one of them can win only where it was that file's
choice, with the test accuracy (and refit) read there; any other carried
winner stops the choice, asking for it to be trained.  ``--quick``: 2 epochs
on 2,000 images.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import NamedTuple

import harness

import anynet
from anynet.api.presets import PRESETS, split
from anynet.api.saved import load_run
from anynet.datasets import augmented, load_dataset, split_validation
from anynet.train.schedules import DivideAt, DivideOnPlateau
from fashion_sweep import first_rows, fixed_schedule, plot_validation

TARGET = 93.0  # % test accuracy (issue 18 item 5)
QUICK_ROWS = 2_000
LAYERS = "conv:32:5,pool:2,relu,conv:64:5,pool:2,relu,dense:256:relu,dropout:0.5,dense:10:softmax"
DROPOUT_LAYERS = ("conv:32:5,pool:2,relu,dropout:0.25,conv:64:5,pool:2,relu,dropout:0.25,dense:512:relu,dropout:0.5,"
                  "dense:10:softmax")
VGG_LAYERS = ("conv:32:3,relu,conv:32:3,relu,pool:2,dropout:0.25,conv:64:3,relu,conv:64:3,relu,pool:2,dropout:0.25,"
              "dense:512:relu,dropout:0.5,dense:10:softmax")
DEEPER_LAYERS = ("conv:32:5,relu,pool:2,dropout:0.25,conv:64:3,relu,conv:64:3,relu,pool:2,dropout:0.25,"
                 "dense:512:relu,dropout:0.5,dense:10:softmax")


# The first candidates' eta schedule: halved after 2 epochs without a better validation accuracy, down to 1/64
PLATEAU = DivideOnPlateau(patience=2, factor=2.0, min_ratio=1 / 64)


class Candidate(NamedTuple):
    """A candidate's changes to the preset's settings: its layers, augmentation, epochs at most and eta schedule."""

    layers: str
    augment: str | None
    most: int
    schedule: DivideAt | DivideOnPlateau = PLATEAU


# (layers, augment, epochs at most[, schedule]): the preset's two conv-pool layers for 12 epochs, with the book's
# filter counts, without the mirror; then the first for up to 40 epochs, mirrored and also with shifts;
# then with dropout after each conv-pool layer and 512 dense units (candidate 4 overfitted from epoch 11),
# mirrored (6) and mirrored and shifted (7); then 7 (8) and 5 (9) with eta annealed on a fixed schedule
# in 16 epochs, halved every 2 epochs from the 9th (7 and 5 were still rising when stopped at a time
# budget, their etas halved once and never); then deeper: four 3x3 conv layers in two blocks (VGG's pattern, each
# block two convs then a pool and dropout), mirrored (10), and a 5x5 conv-pool layer followed by two 3x3 conv layers
# and a pool, mirrored and shifted (11), each with a fixed schedule fitted to about two hours of one core here;
# then 11's layers with 8's schedule (12: 11 led 8 until its shorter schedule began halving eta), and 8 with two
# more epochs at eta0 (13), each about two hours of one core beside the other
CANDIDATES = [Candidate(*c) for c in [
    (LAYERS, "mirror", 12),
    (LAYERS.replace("conv:32:5", "conv:20:5").replace("conv:64:5", "conv:40:5"), "mirror", 12),
    (LAYERS, None, 12),
    (LAYERS, "mirror", 40),
    (LAYERS, "mirror+shift", 40),
    (DROPOUT_LAYERS, "mirror", 40),
    (DROPOUT_LAYERS, "mirror+shift", 40),
    (DROPOUT_LAYERS, "mirror+shift", 16, DivideAt([8, 10, 12, 14])),
    (LAYERS, "mirror+shift", 16, DivideAt([8, 10, 12, 14])),
    (VGG_LAYERS, "mirror", 22, DivideAt([12, 14, 16, 18, 20])),
    (DEEPER_LAYERS, "mirror+shift", 11, DivideAt([6, 7, 8, 9, 10])),
    (DEEPER_LAYERS, "mirror+shift", 16, DivideAt([8, 10, 12, 14])),
    (DROPOUT_LAYERS, "mirror+shift", 18, DivideAt([10, 12, 14, 16])),
]]


def train_candidate(k, dataset, preset, work: Path, epochs, quick, *, train=True):
    """Candidate ``k`` trained, continued or read back: its row and its best
    epoch's network.  The run is checkpointed after every epoch
    (``cand-K.run.npz``, with the time to each epoch's end in
    ``cand-K.spent.json``) and its row written (``cand-K.json``), so a run
    stopped early (killed at a time budget) continues bit for bit when trained
    again, and ``train=False`` reads back the row and best network of the
    epochs its checkpoint holds (``finished: false``).  A finished run's best
    network is ``cand-K.npz``.  Candidates trained before runs were
    checkpointed have only the row and the best network so far."""
    layers, augment, most, schedule = CANDIDATES[k]
    row_path, net_path, run_path, spent_path = (work / f"cand-{k + 1}{suffix}"
                                                for suffix in (".json", ".npz", ".run.npz", ".spent.json"))
    saved = json.loads(row_path.read_text()) if row_path.exists() else None
    if saved is not None:
        same_kind(row_path, saved["quick"], quick, "run's row", f"remove its cand-{k + 1}.* to train it")
    if saved is not None and net_path.exists():
        if saved["finished"] or (not train and not run_path.exists()):
            print(f"candidate {k + 1}: read back from {row_path}", flush=True)
            return saved, anynet.load(net_path)
    if not train and not run_path.exists():
        return None
    network, training = split({**preset, "layers": layers, "eta_schedule": schedule})
    training["epochs"] = most if epochs is None else epochs
    run = load_run(run_path) if run_path.exists() else None
    reports = [] if run is None else list(run.state.history)
    times = EpochTimes(spent_path, run, run_path, (training["epochs"], schedule))
    if not train:  # the best epoch so far of a run stopped early
        images = saved["training_images"]  # a run's row is written just before each of its checkpoints
        print(f"candidate {k + 1}: read back from {run_path} ({len(reports)} epochs)", flush=True)
        ended = run.state.stopped or run.state.epoch >= run.config.epochs
        return candidate_row(k, reports, times, len(dataset.validation[1]), images, quick, ended), best_so_far(run)
    if run is None:  # a new run: no network of an earlier one (a candidate stopped before checkpoints) is its best
        net_path.unlink(missing_ok=True)
    data = augmented(dataset, augment)

    def row(finished):
        return candidate_row(k, reports, times, len(dataset.validation[1]), len(data.train[1]), quick, finished)

    print(f"candidate {k + 1}: {layers}, augment={augment}, {training['epochs']} epochs at most, "
          f"{training['eta_schedule']}", flush=True)

    def after_epoch(report):  # written just before the epoch's checkpoint
        reports.append(report)
        times.tick()
        harness.save_json(row_path, row(False))

    fresh = starter(network, training, data.train, evaluation_data=dataset.validation)
    net = checkpointed(f"candidate {k + 1}", run, run_path, data.train, fresh, after_epoch, dataset.validation)
    net.save(net_path)  # the best epoch's weights: early stopping restored them, or the last epoch was the best
    finished = row(True)
    harness.save_json(row_path, finished)
    print(f"candidate {k + 1}: best validation {100 * finished['best_validation']:.2f}% at epoch "
          f"{finished['best_epoch']}; {finished['cpu_seconds']:.0f} CPU s", flush=True)
    return finished, net


def candidate_row(k, reports, times, n_validation, images, quick, finished):
    """A candidate's row from its run's epoch reports and times."""
    layers, augment = CANDIDATES[k].layers, CANDIDATES[k].augment
    accuracies = [r.evaluation_accuracy for r in reports]
    best = max(range(len(accuracies)), key=lambda e: (accuracies[e], -e))
    return {"layers": layers, "augment": augment, "validation_per_epoch": accuracies, "etas": [r.eta for r in reports],
            "training_images": images, "quick": quick, "finished": finished, "epochs_run": len(accuracies),
            "best_epoch": best, "best_validation": accuracies[best] / n_validation, "cpu_seconds": times.cpu[-1],
            "wall_seconds": times.wall[-1], "blas_threads_per_epoch": times.threads, "cpu_model": harness.cpu_model()}


def best_so_far(run):
    """The network of a run's best epoch so far, which early stopping keeps
    (every candidate has it); a run without it (a refit) ends as its last
    epoch left it."""
    if run.state.best_parameters is not None:
        run.net.model.set_parameters(run.state.best_parameters)
    return run.net


def starter(network, training, train, evaluation_data=None):
    """``fresh(checkpoint, callback)`` for :func:`checkpointed`: a new
    Network of ``network``'s keywords trained on ``train`` with ``training``'s
    (the preset's, split by :func:`anynet.api.presets.split`)."""
    def fresh(checkpoint, callback):
        net = anynet.Network(**network)
        net.SGD(train, evaluation_data=evaluation_data, checkpoint=checkpoint, callback=callback, **training)
        return net
    return fresh


def checkpointed(name, run, run_path, train, fresh, after_epoch, evaluation_data=None):
    """A run checkpointed at ``run_path`` after every epoch, trained:
    ``fresh(checkpoint, callback)`` starts it where ``run`` (read from
    ``run_path``) is None, else the run continues bit for bit from its last
    checkpoint; a run with nothing left to train (killed after its last
    checkpoint, before its results were written) is taken as it ended."""
    if run is None:
        return fresh(run_path, after_epoch)
    if run.state.stopped or run.state.epoch >= run.config.epochs:
        return best_so_far(run)  # killed before its end restored the best epoch's weights, or after
    print(f"{name}: resuming {run_path} after {run.state.epoch} epochs", flush=True)
    return anynet.resume(run_path, train, evaluation_data=evaluation_data, callback=after_epoch)


class EpochTimes:
    """The time to the end of each epoch of a checkpointed run (CPU and wall
    seconds, BLAS threads), kept in ``path`` across the processes that train
    it: a resumed run's first ones read back for the epochs its checkpoint
    holds (an epoch killed part way is not counted; the resumed process's
    loading counts in its first epoch).  A checkpoint for other epochs or
    another schedule than ``expected`` (the candidate changed since), or
    without the time of each of its epochs, is refused, naming the files."""

    def __init__(self, path, run, run_path, expected=None):
        self.path, self.cpu, self.wall, self.threads = path, [], [], []
        if run is not None:
            epochs, schedule = expected or (run.config.epochs, run.config.eta_schedule)
            if (run.config.epochs, repr(run.config.eta_schedule)) != (epochs, repr(schedule)):
                raise SystemExit(f"{run_path} trains {run.config.epochs} epochs with {run.config.eta_schedule!r}, "
                                 f"not {epochs} with {schedule!r}: remove it to train the run as it is now")
            done = run.state.epoch
            spent = json.loads(path.read_text()) if path.exists() else {"cpu": []}
            if len(spent["cpu"]) < done:
                raise SystemExit(f"{path} holds the time of {len(spent['cpu'])} epochs, {run_path} has {done}: "
                                 "remove both to train the run again")
            self.cpu, self.wall, self.threads = (spent[key][:done] for key in ("cpu", "wall", "threads"))
        self.before = (self.cpu[-1], self.wall[-1]) if self.cpu else (0.0, 0.0)
        self.began, self.began_cpu = time.perf_counter(), time.process_time()

    def tick(self):
        """Record the end of an epoch now."""
        self.cpu.append(self.before[0] + time.process_time() - self.began_cpu)
        self.wall.append(self.before[1] + time.perf_counter() - self.began)
        self.threads.append(harness.blas_threads()[0])
        harness.save_json(self.path, {"cpu": self.cpu, "wall": self.wall, "threads": self.threads})


def refit_candidate(k, row, dataset, preset, work: Path, quick):
    """Candidate ``k``'s recipe trained again on all 60,000 training images
    (the validation rows train too, then the augmentation), as
    GridSearchCV(refit=True) does: its run's epochs up to the best one, with
    the etas its plateau schedule had in them replayed as a fixed schedule,
    no early stopping.  Nothing here reads a validation or test image.  Saves
    ``refit-K.npz`` and its row ``refit-K.json``; returns the row.  The run is
    checkpointed after every epoch as a candidate's is (``refit-K.run.npz``,
    ``refit-K.spent.json``), and a refit killed part way continues from it
    bit for bit when run again; a finished refit is read back."""
    layers, augment = CANDIDATES[k].layers, CANDIDATES[k].augment
    row_path, run_path, spent_path = (work / f"refit-{k + 1}{suffix}" for suffix in (".json", ".run.npz", ".spent.json"))
    if row_path.exists() and (work / f"refit-{k + 1}.npz").exists():
        refit = json.loads(row_path.read_text())
        same_kind(row_path, refit["quick"], quick, "refit's row", "remove it to train another")
        print(f"refit of candidate {k + 1}: read back from {row_path}", flush=True)
        return refit
    whole = split_validation(dataset, 0)
    if quick:
        whole = first_rows(whole, QUICK_ROWS)
    etas = row["etas"][: row["best_epoch"] + 1]
    schedule = fixed_schedule(etas, CANDIDATES[k].schedule.factor)
    network, training = split({**preset, "layers": layers})
    training.update(epochs=len(etas), eta_schedule=schedule, early_stopping=None)
    data = augmented(whole, augment)
    print(f"refit of candidate {k + 1}: {len(data.train[1]):,} images, {len(etas)} epochs, {schedule}", flush=True)
    run = load_run(run_path) if run_path.exists() else None
    times = EpochTimes(spent_path, run, run_path, (len(etas), schedule))

    net = checkpointed(f"refit of candidate {k + 1}", run, run_path, data.train, starter(network, training, data.train),
                       lambda report: times.tick())
    refit = {"candidate": k + 1, "images": len(data.train[1]), "epochs": len(etas), "etas": etas,
             "schedule": repr(schedule), "cpu_seconds": times.cpu[-1], "wall_seconds": times.wall[-1],
             "blas_threads_per_epoch": times.threads, "quick": quick, "run_finished": row["finished"]}
    net.save(work / f"refit-{k + 1}.npz")
    harness.save_json(row_path, refit)
    print(f"refit of candidate {k + 1}: {refit['cpu_seconds']:.0f} CPU s (saved; its test accuracy is read "
          "only if the candidate is chosen)", flush=True)
    return refit


def main(argv=None):
    parser = harness.arguments(__doc__, quick="2 epochs on 2,000 images (a smoke run)")
    parser.add_argument("--work", type=Path, default=Path("fashion-conv-work"),
                        help="folder for each candidate's network and row (default ./fashion-conv-work)")
    parser.add_argument("--epochs", type=int, help="epochs at most (default: each candidate's)")
    parser.add_argument("--only", help="train only these candidates (numbers from 1, comma-separated)")
    parser.add_argument("--no-train", action="store_true",
                        help="train nothing: choose among the candidates saved under --work (finished or stopped)")
    parser.add_argument("--no-choice", action="store_true",
                        help="train, then stop before the choice: the test images are not read (candidates trained "
                             "side by side in separate processes; a last --no-train run chooses)")
    parser.add_argument("--rows-from", type=Path, metavar="JSON",
                        help="an earlier choice's results file: the rows of candidates with no files under --work "
                             "are taken from it (validation only; one of them wins only where it won there, with "
                             "the test accuracy read there)")
    parser.add_argument("--refit", type=int, metavar="K",
                        help="train candidate K's recipe again on all 60,000 training images (its saved run's "
                             "epochs and etas), saved under --work; the choice then reports the winner's refit too")
    args = harness.parse(parser, argv)
    info = harness.machine_info(args)
    print(harness.describe(info), flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset("fashion-mnist", dtype="float32")
    epochs = 2 if args.quick else args.epochs
    if args.quick:
        dataset = first_rows(dataset, QUICK_ROWS)
    preset = {k: v for k, v in PRESETS["fashion-conv"].items() if k not in ("layers", "augment")}
    wanted = range(len(CANDIDATES)) if not args.only else [int(k) - 1 for k in args.only.split(",")]
    finished = {}
    for k in range(len(CANDIDATES)):
        train = k in wanted and not args.no_train
        if train or (args.work / f"cand-{k + 1}.json").exists():
            result = train_candidate(k, dataset, preset, args.work, epochs, args.quick, train=train)
            if result is not None:
                finished[k] = result
    if args.refit is not None:
        refit_candidate(args.refit - 1, finished[args.refit - 1][0], dataset, preset, args.work, args.quick)
    if args.no_choice:
        return
    for row, _ in finished.values():  # the work folder is this machine's (rows written before rows named it)
        row.setdefault("cpu_model", info["cpu_model"])
    earlier = carried_rows(args.rows_from, finished, args.quick) if args.rows_from else None
    # The choice: validation accuracy only (first of equals in CANDIDATES order).
    winner = max(finished, key=lambda k: (finished[k][0]["best_validation"], -k))
    n = len(dataset.test[1])
    if finished[winner][1] is None:  # carried from --rows-from: only its choice there has its test accuracy
        if winner + 1 != earlier["winner"]:
            raise SystemExit(f"candidate {winner + 1} wins on validation, but its network is not under --work and "
                             f"{args.rows_from} chose candidate {earlier['winner']}: train it (--only {winner + 1})")
        correct, refit = earlier["test_correct"], earlier["refit"]
    else:
        correct, refit = finished[winner][1].evaluate(dataset.test), chosen_refit(args.work, winner, dataset)
    test = correct / n
    rows = {k: finished[k][0] for k in sorted(finished)}
    print(harness.format_table(
        ["#", "layers", "augment", "best val %", "epoch", "epochs", "finished", "CPU s", "on", "test %"],
        [[k + 1, r["layers"], r["augment"] or "none", f"{100 * r['best_validation']:.2f}", r["best_epoch"],
          r["epochs_run"], "yes" if r["finished"] else "stopped", f"{r['cpu_seconds']:.0f}", r["cpu_model"],
          f"{100 * test:.2f}  <- chosen" if k == winner else ""]
         for k, r in rows.items()]))
    met = 100 * test >= TARGET
    print(f"chosen on validation: candidate {winner + 1}: test accuracy {100 * test:.2f}% ({correct}/{n}); "
          f"target >= {TARGET}%: {'met' if met else 'missed'}")
    if refit is not None:
        met = met or refit["target_met"]
        print(f"its refit on {refit['images']:,} images ({refit['epochs']} epochs): test accuracy "
              f"{100 * refit['test_correct'] / n:.2f}% ({refit['test_correct']}/{n}); "
              f"target >= {TARGET}%: {'met' if refit['target_met'] else 'missed'}")
    payload = {"benchmark": "fashion_conv", "machine": info, "quick": args.quick,
               "preset": {k: repr(v) for k, v in preset.items()},
               "candidates": [{"layers": c.layers, "augment": c.augment, "epochs": c.most,
                               "schedule": repr(c.schedule)} for c in CANDIDATES],
               "rows": {str(k + 1): r for k, r in rows.items()}, "winner": winner + 1, "test_correct": correct,
               "n_test": n, "refit": refit, "target_percent": TARGET, "target_met": met,
               "time": "CPU seconds of the process while it trained the candidate",
               "selection": "best validation accuracy (10,000 images); the test set is measured for the winner only "
                            "(and for its refit on all 60,000 training images, where one was trained)"}

    def draw(fig, ax):
        plot_validation(ax, {k: (r["validation_per_epoch"], f"{k + 1}: {r['layers'].split(',dense')[0]}"
                                 f" {r['augment'] or ''} {len(r['validation_per_epoch'])} ep") for k, r in rows.items()},
                        len(dataset.validation[1]), winner, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=6.5)
        machines = " and ".join(sorted({r["cpu_model"] for r in rows.values()}))
        return f"fashion_conv: candidate {winner + 1} chosen, test {100 * test:.2f}% (trained on {machines})"

    harness.save_results(args.out, "fashion-conv-" + harness.run_slug(info, args.threads, args.quick), payload, draw,
                         figsize=(15, 5.5))


def carried_rows(path: Path, finished: dict, quick) -> dict:
    """Adds to ``finished`` (candidate: (row, network)) the rows of an earlier
    choice's results file (``--rows-from``) for the candidates it lacks, with
    no network and the machine they ran on; returns that file's payload.  A
    row for other layers, augmentation, epochs or schedule than the candidate's now,
    or from a run of the other kind (``--quick`` or not), is refused, naming
    the file.  A carried candidate can win only where it was that file's
    choice (its test accuracy was read there): otherwise its network would
    be needed, and the choice stops, saying so."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError) as error:  # ValueError: not JSON, or not text
        raise SystemExit(f"--rows-from {path}: {error}") from None
    if not isinstance(earlier, dict) or earlier.get("benchmark") != "fashion_conv":
        raise SystemExit(f"{path} is not a fashion_conv.py choice's results")
    same_kind(path, earlier["quick"], quick, "choice's results")
    for key, row in earlier["rows"].items():
        k = int(key) - 1
        if k in finished:
            continue
        then, now = earlier["candidates"][k], CANDIDATES[k]
        if ((then["layers"], then["augment"], then["epochs"], then["schedule"])
                != (now.layers, now.augment, now.most, repr(now.schedule))):
            raise SystemExit(f"{path}: candidate {k + 1} was {then}, not the candidate it is now")
        finished[k] = ({**row, "cpu_model": row.get("cpu_model", earlier["machine"]["cpu_model"]),
                        "carried_from": row.get("carried_from", path.name)}, None)
    return earlier


def same_kind(path, saved_quick, quick, what, remedy=None):
    """Refuse a saved file (``what``) of the other kind, ``--quick`` or not, than the run asked for, naming it."""
    if saved_quick != quick:
        kinds = ("a full", "a quick")
        raise SystemExit(f"{path} is {kinds[saved_quick]} {what}, not {kinds[quick]} one's"
                         + (f": {remedy}" if remedy else ""))


def chosen_refit(work: Path, winner, dataset):
    """The winner's refit (``--refit``) with its test accuracy, or None where none was trained."""
    path = work / f"refit-{winner + 1}.npz"
    if not path.exists():
        return None
    refit = json.loads((work / f"refit-{winner + 1}.json").read_text())
    refit["test_correct"] = anynet.load(path).evaluate(dataset.test)
    refit["target_met"] = 100 * refit["test_correct"] / len(dataset.test[1]) >= TARGET
    return refit


if __name__ == "__main__":
    main()
