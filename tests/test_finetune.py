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
    m = train(tiny(loss='mnrl', max_steps=2, posting_anchors=False, style_rate=0.0, onet_rows=0), splits=sp, run='t', progress=False)   # jitter rows only: the pull is measured on them
    assert m['model_dir'] == str(fine_tuned_dir()) and m['steps'] == 2
    assert not list(fine_tuned_dir().parent.glob('.fine_tuned.*')), 'no temporary folder is left behind'
    saved = json.loads((run_dir('t')/'finetune'/'metrics.json').read_text())
    assert saved['train_rows'] == 128 and saved['config']['loss'] == 'mnrl' and 'recall@1' in saved['val'] and saved['wall_time_s'] > 0
    base, tuned = load_model(DEFAULT_MODEL, 'cpu'), load_model(m['model_dir'], 'cpu')
    assert mean_cos(tuned, sample) > mean_cos(base, sample) + 0.005
    assert last_checkpoint(run_dir('t')/'finetune') is not None
    r = train(tiny(loss='mnrl', max_steps=4, posting_anchors=False, style_rate=0.0, onet_rows=0), splits=sp, run='t', resume=True, progress=False)
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


TINY_CLI = ['train', '--max-steps', '1', '--train-rows', '200', '--batch-size', '8', '--val-rows', '20', '--quiet']


def record_loads(monkeypatch):
    "Every model `train` asks for, recorded on the way to the real loader."
    loaded = []
    monkeypatch.setattr(finetune, 'load_model', lambda *a, **kw: loaded.append(a) or load_model(*a, **kw))
    return loaded


def test_output_folder_of_other_files_is_never_replaced(home, tmp_path, monkeypatch, capsys):
    from jobsim.cli import main
    loaded = record_loads(monkeypatch)
    for d in (tmp_path/'d', home/'models'/'mine'):   # outside the artifacts folder (on purpose) and inside it
        d.mkdir(parents=True); (d/'thesis.txt').write_text('keep')
        assert main(TINY_CLI + ['--output', str(d), '--outside']) == 1
        err = capsys.readouterr().err
        assert err == f'jobsim train: error: --output {d.resolve()} already holds files jobsim did not write (thesis.txt): choose a new or empty folder, or pass --overwrite to replace it\n'
        assert (d/'thesis.txt').read_text() == 'keep' and sorted(p.name for p in d.parent.iterdir() if p.name.startswith('.')) == []
    assert main(TINY_CLI + ['--output', str(tmp_path/'d')]) == 1   # outside the artifacts folder without --outside
    assert 'is outside the artifacts folder' in capsys.readouterr().err
    assert loaded == [], 'the output folder is checked before any model is loaded'


def test_training_writes_the_run_and_model_where_asked(home, monkeypatch, capsys):
    from jobsim.cli import main
    dest = home/'models'/'mine'
    assert main(TINY_CLI + ['--run', 'logs', '--output', str(dest)]) == 0
    assert (dest/'jobsim_train.json').exists() and (home/'runs'/'logs'/'finetune'/'metrics.json').exists()
    assert finetune.train_folders(default_config('cpu'), 'logs', str(dest))[1] == dest.resolve()   # a jobsim model: may be replaced


@pytest.mark.parametrize('argv, message', [
    (['--epochs', '-1'], '--epochs must be above 0, got -1.0'),
    (['--epochs', '0'], '--epochs must be above 0, got 0.0'),
    (['--batch-size', '1'], '--batch-size must be at least 2, got 1'),
    (['--lr', '0'], '--lr must be above 0, got 0.0'),
    (['--max-steps', '0'], '--max-steps must be at least 1 (or -1: off), got 0'),
    (['--style-rate', '2'], '--style-rate must be at least 0 and at most 1, got 2.0'),
    (['--run', '../../etc'], "--run '../../etc' is not a run name"),
])
def test_bad_numbers_and_runs_stop_before_any_model_or_data_loads(home, monkeypatch, capsys, argv, message):
    from jobsim.cli import main
    loaded = record_loads(monkeypatch)
    monkeypatch.setattr(finetune, 'get_splits', lambda *a, **kw: loaded.append('splits'))
    assert main(['train', *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f'jobsim train: error: {message}') and err.count('\n') == 1, err
    assert loaded == [], 'the error must come before any data or model is loaded'


def test_poisoned_taxonomy_titles_never_become_training_anchors(tmp_path, monkeypatch, splits):
    """The validation and test seed titles, planted in a copy of the O*NET files under another code, never reach a
    training row: not in the taxonomy titles training draws from, not as an anchor in any epoch's draw."""
    import shutil
    from jobsim.core import data_dir
    from jobsim.data import normalise_title
    from jobsim.onet import held_out_keys
    from jobsim.finetune import taxonomy_training_data
    data = tmp_path/'data'; shutil.copytree(data_dir(), data)
    held = pd.concat([splits.val, splits.test]).drop_duplicates('seed_title')
    f = data/'onet'/'alternate_titles.tsv'
    alt = pd.read_csv(f, sep='\t', dtype=str, keep_default_na=False)
    poison = pd.DataFrame({'O*NET-SOC Code': '53-7062.00', 'Alternate Title': held.seed_title.map(clean_title).str.upper().tolist(), 'Short Title': 'n/a', 'Source(s)': '99'})
    pd.concat([alt, poison]).to_csv(f, sep='\t', index=False)
    monkeypatch.setenv('JOBSIM_DATA', str(data))
    onet, desc, names = taxonomy_training_data(tiny(onet_rows=4000, description_rows=100, occupation_rows=2000), splits)
    keys = held_out_keys(splits)
    assert len(onet) > 10_000 and not set(onet.key) & keys and desc and names
    ot = OnlineTriplets(splits.train, with_negative=False, onet=onet, onet_rows=4000, descriptions=desc, description_rows=100,
                        occupation_titles=names, occupation_rows=2000, code_aware=True)
    for epoch in range(4):
        ot.redraw(epoch)
        seeds = set(ot.pool.title) # occupation rows also draw training seed titles, which may share a key with a held-out seed: the split's matter, not the taxonomy's
        anchors = {normalise_title(a) for a in ot.anchors[ot.kinds == 3]} | {normalise_title(a) for a in ot.anchors[ot.kinds == 5] if a not in seeds}
        assert not anchors & keys, f'epoch {epoch}: {sorted(anchors & keys)[:3]} reached training'


def test_code_proxy_term_reaches_the_trainer_and_pulls_titles_towards_their_code(home, splits):
    import torch
    sample = splits.train.sample(256, random_state=2).reset_index(drop=True)
    sp, base = splits._replace(train=sample), load_model(DEFAULT_MODEL, 'cpu')
    rows = OnlineTriplets(sample, with_negative=False)
    dirs = finetune.code_directions(base, rows).numpy()[np.searchsorted(rows.code_list, sample.onet_code)]
    to_code = {}
    for w in (0., 5.):
        m = train(tiny(loss='mnrl', max_steps=3, posting_anchors=False, style_rate=0.0, onet_rows=0, proxy_weight=w), splits=sp, run=f'proxy{w:g}', output=fine_tuned_dir().parent/f'proxy{w:g}', progress=False)   # a folder each: load_model caches by path
        assert m['config']['proxy_weight'] == w
        to_code[w] = float((encode_titles(load_model(m['model_dir'], 'cpu'), sample.jittered_title, progress=False) * dirs).sum(1).mean())
    assert to_code[5.] > to_code[0.] + 0.005, to_code   # the labels reach the loss: the term pulls each title towards its code's direction
    with pytest.raises(ValueError, match='proxy_weight adds a term to the MNRL loss'): train(tiny(loss='triplet', proxy_weight=1.), splits=sp, run='bad', progress=False)


def test_time_budget_stops_a_slow_run_early_and_a_resumed_run_keeps_its_count(home, splits):
    sp = splits._replace(train=splits.train.sample(400, random_state=2).reset_index(drop=True))
    cfg = tiny(loss='mnrl', max_steps=30, posting_anchors=False, style_rate=0.0, onet_rows=0, budget_minutes=0.001)   # far too short: the shortest run it allows
    m = train(cfg, splits=sp, run='budget', output=fine_tuned_dir().parent/'budget', progress=False)
    first = 1 + finetune.BUDGET_PROBE + 1   # the count is set after the probe's steps, and stays above them
    assert m['steps'] == first and m['budget']['steps'] == first and m['budget']['of'] == 30 and m['budget']['step_s'] > 0
    assert json.loads((run_dir('budget')/'finetune'/'budget.json').read_text())['steps'] == first
    r = train(cfg, splits=sp, run='budget', output=fine_tuned_dir().parent/'budget', resume=True, progress=False)
    assert r['budget'] == m['budget'] and r['steps'] <= first + 1   # resumed: the plan is kept, not made again (a finished run's resume takes one step, at learning rate 0)
    fast = train(tiny(loss='mnrl', max_steps=25, posting_anchors=False, style_rate=0.0, onet_rows=0, budget_minutes=60), splits=sp, run='budget60', output=fine_tuned_dir().parent/'budget60', progress=False)
    assert fast['steps'] == 25 and fast['budget']['steps'] == 25   # a budget that holds the run changes nothing
