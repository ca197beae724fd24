"""What one CPU training step costs with and without `LengthGroupedMNRL`: a benchmark to run on demand, never part of the tests.

    JOBSIM_DATA=$PWD/../shared/data python tests/bench/train_step.py            # chunks of 24 (the CPU default) against none
    JOBSIM_DATA=$PWD/../shared/data python tests/bench/train_step.py --chunks 0 16 24 32 --batches 10

Each step is the default's: all-MiniLM-L6-v2 in training mode, a batch of 64 (jittered title, seed title) pairs of the
default run's train split, tokenized to at most 32 tokens, MNRL forward and backward and an AdamW step. The settings take
turns batch by batch, so a machine whose speed drifts slows them alike; it prints each one's median seconds a step and its
ratio to the first. Run it with the cores free.
"""
import argparse, statistics, time


def main(chunks=(0, 24), batches:int=8, batch_size:int=64, seed:int=0):
    import copy, torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from jobsim.data import get_splits
    from jobsim.finetune import LengthGroupedMNRL
    from jobsim.models import load_model, DEFAULT_MODEL
    torch.manual_seed(seed)
    model = copy.deepcopy(load_model(DEFAULT_MODEL, 'cpu')); model.max_seq_length = 32; model.train()
    rows = get_splits(None).train.sample(batch_size * (batches + 1), random_state=seed)
    pairs = [(rows.jittered_title.iloc[i:i + batch_size].tolist(), rows.seed_title.iloc[i:i + batch_size].tolist()) for i in range(0, len(rows), batch_size)]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-9) # a step that moves the weights as little as possible: every setting sees the same model
    losses = {c: LengthGroupedMNRL(model, c) if c else MultipleNegativesRankingLoss(model) for c in chunks}
    def step(loss, batch):
        feats = [model.preprocess(col) for col in batch]
        t = time.perf_counter()
        loss(feats, torch.arange(len(batch[0]))).backward(); opt.step(); opt.zero_grad()
        return time.perf_counter() - t
    for c in chunks: step(losses[c], pairs[-1]) # warm-up
    times = {c: [] for c in chunks}
    for batch in pairs[:-1]:
        for c in chunks: times[c].append(step(losses[c], batch))
    first = statistics.median(times[chunks[0]])
    for c in chunks:
        med = statistics.median(times[c])
        name = 'sentence-transformers MNRL (one forward per column)' if c == 0 else f'LengthGroupedMNRL, chunks of {c}'
        print(f'{name:<52} {med:6.3f} s a step   x{med / first:.2f}', flush=True)


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--chunks', type=int, nargs='+', default=[0, 24], help='rows per forward to compare (0: sentence-transformers MNRL)')
    p.add_argument('--batches', type=int, default=8, help='timed batches per setting')
    a = p.parse_args()
    main(tuple(a.chunks), a.batches)
