"Fine-tuning: bad input stops before training, a tiny run moves anchors towards positives, saves atomically and resumes."
import json
import numpy as np, pandas as pd, pytest
from jobsim.core import fine_tuned_dir, run_dir
from jobsim.data import get_splits, clean_title
from jobsim.models import load_model, encode_titles, DEFAULT_MODEL
import jobsim.finetune as finetune
from jobsim.trainset import TrainConfig, default_config, OnlineTriplets, val_triplets, seed_pool, mine_hard_negatives, draw_negatives
from jobsim.finetune import train, train_cli, save_atomic, last_checkpoint


@pytest.fixture(scope='module')
def splits(): return get_splits(None)


def tiny(**kw):
    base = dict(batch_size=16, max_steps=3, evals_per_epoch=1, val_rows=64, max_seq_length=32, lr=1e-4)
    return default_config('cpu', **(base | kw))


def mean_cos(model, df):
    a = encode_titles(model, df.jittered_title, progress=False)
    p = encode_titles(model, df.seed_title.map(clean_title), progress=False)
    return float((a*p).sum(1).mean())


@pytest.mark.parametrize('change, message', [
    (dict(train=lambda t: t.iloc[:0]), 'training set is empty'),
    (dict(train=lambda t: t[t.seed_title == t.seed_title.iloc[0]]), '1 seed title'),
    (dict(cfg=dict(loss='softmax')), "unknown loss 'softmax'"),
    (dict(cfg=dict(batch_size=10_000)), 'batch_size 10000 is larger than the 200 training rows'),
])
def test_bad_input_fails_before_training(home, splits, change, message, monkeypatch):
    train_df = change.get('train', lambda t: t)(splits.train.head(200))
    loaded = []  # every model `train` asks for, recorded on the way to the real loader
    monkeypatch.setattr(finetune, 'load_model', lambda *a, **kw: loaded.append(a) or load_model(*a, **kw))
    with pytest.raises(ValueError, match=message):
        train(tiny(**change.get('cfg', {})), splits=splits._replace(train=train_df), run='bad', progress=False)
    assert loaded == [], 'the error must come before any model is loaded or trained'
    assert not fine_tuned_dir().exists() and not (run_dir('bad')/'finetune'/'checkpoints').exists()


def test_cli_rejects_unknown_loss(home):
    with pytest.raises(ValueError, match="unknown loss 'mnr'"): train_cli(loss='mnr', train_rows=100, quiet=True)


def test_negatives_are_never_the_positive_and_hard_ones_have_another_code(splits):
    train_df = splits.train.head(600)
    tr = OnlineTriplets(train_df, seed=3)
    assert (tr.negatives != tr.positives).all()
    first = tr.negatives.copy(); tr.redraw(1)
    assert (tr.negatives != first).mean() > 0.5, 'negatives are re-drawn each epoch'
    pool, model = seed_pool(train_df), load_model(DEFAULT_MODEL, 'cpu')
    nn = mine_hard_negatives(model, pool, k=5)
    negs = draw_negatives(tr.positives, pool, np.random.default_rng(0), nn)
    code = dict(zip(pool.title, pool.onet_code))
    assert all(code[n] != code[p] for n, p in zip(negs, tr.positives))


def test_validation_triplets_are_fixed(splits):
    a, b = val_triplets(splits.val), val_triplets(splits.val)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 5*len(splits.val) and (a.positive != a.negative).all()


def test_tiny_run_moves_anchors_towards_positives_saves_and_resumes(home, splits):
    sample = splits.train.sample(128, random_state=1).reset_index(drop=True)
    sp = splits._replace(train=sample)
    m = train(tiny(loss='mnrl', max_steps=2, posting_anchors=False, style_rate=0.0), splits=sp, run='t', progress=False)   # jitter rows only: the pull is measured on them
    assert m['model_dir'] == str(fine_tuned_dir()) and m['steps'] == 2
    assert not list(fine_tuned_dir().parent.glob('.fine_tuned.*')), 'no temporary folder is left behind'
    saved = json.loads((run_dir('t')/'finetune'/'metrics.json').read_text())
    assert saved['train_rows'] == 128 and saved['config']['loss'] == 'mnrl' and 'recall@1' in saved['val'] and saved['wall_time_s'] > 0
    base, tuned = load_model(DEFAULT_MODEL, 'cpu'), load_model(m['model_dir'], 'cpu')
    assert mean_cos(tuned, sample) > mean_cos(base, sample) + 0.005
    assert last_checkpoint(run_dir('t')/'finetune') is not None
    r = train(tiny(loss='mnrl', max_steps=4, posting_anchors=False, style_rate=0.0), splits=sp, run='t', resume=True, progress=False)
    assert r['resumed_from'] and r['resumed_from'].endswith('checkpoint-2') and r['steps'] == 4


def test_default_recipe_trains_on_postings_and_rewrites(home, splits):
    cfg = tiny(loss='mnrl', max_steps=1, train_rows=2000)
    assert cfg.posting_anchors and cfg.code_aware and cfg.style_rate > 0   # the CPU default's ingredients
    m = train(cfg, splits=splits, run='ingredients', progress=False)
    n_titles, rest = divmod(m['posting_rows'], cfg.posting_repeats)   # each sampled posting title, repeated
    assert m['steps'] == 1 and rest == 0 and 0 < n_titles < 2575 * 2000 / len(splits.train) + 1   # the posting train part, sampled like the jitter


def test_save_atomic_replaces_the_old_model(tmp_path):
    model = load_model(DEFAULT_MODEL, 'cpu')
    dest = tmp_path/'fine_tuned'; dest.mkdir(); (dest/'stale.txt').write_text('old')
    save_atomic(model, dest, {'info.json': {'a': 1}})
    assert not (dest/'stale.txt').exists() and json.loads((dest/'info.json').read_text()) == {'a': 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['fine_tuned']


def test_cli_keeps_the_recipe_unless_an_ingredient_is_switched_off(home):
    from jobsim.cli import main
    assert main(['train', '--max_steps', '1', '--train_rows', '300', '--batch_size', '16', '--code_aware', 'false', '--run', 'cli', '--quiet']) == 0
    cfg = json.loads((run_dir('cli')/'finetune'/'metrics.json').read_text())['config']
    assert cfg['posting_anchors'] and cfg['style_rate'] > 0   # not named: the default recipe's
    assert cfg['code_aware'] is False                        # named: as given
