"`jobsim pipeline --quick` end to end: every stage runs, writes its artifacts, and a rerun skips them."
import json, subprocess, sys
from pathlib import Path


def jobsim(*args):
    return subprocess.run([str(Path(sys.executable).parent/'jobsim'), *args], capture_output=True, text=True)


def test_quick_pipeline_runs_every_stage_then_skips_them(home):
    r = jobsim('pipeline', '--quick')
    assert r.returncode == 0, r.stderr[-3000:]
    rd = home.resolve()/'runs'/'quick'
    rec = json.loads((rd/'pipeline.json').read_text())
    assert list(rec) == ['split', 'train', 'evaluate', 'plot', 'index']
    assert all(s['status'] == 'done' and s['seconds'] >= 0 for s in rec.values())
    for f in ('train_ds.csv', 'val_ds.csv', 'test_ds.csv', 'postings_split.csv', 'evaluation.json', 'embedding_visualization.html', 'fine_tuned/modules.json'):
        assert (rd/f).exists(), f
    assert not (home/'models'/'fine_tuned').exists()          # a quick run never replaces the real fine-tuned model
    assert any(o.endswith('.npz') and '/coders/' in o for o in rec['index']['outputs'])   # the occupation coder for the dashboard
    ev = {e['model']: e for e in json.loads((rd/'evaluation.json').read_text())}
    assert set(ev) == {'base', 'fine-tuned'} and 0 <= ev['fine-tuned']['recall@1'] <= 1
    assert all(0 <= ev['fine-tuned'][k] <= 1 for k in ('post_acc@1', 'style_recall@1', 'neigh_p@5'))   # titles from the real world too
    assert all(0 <= ev[m][k] <= 1 for m in ev for k in ('title_map', 'occupation_p@5'))   # the held-out taxonomy checks
    assert 'Recall@1' in r.stdout and 'jobsim serve' in r.stdout   # the closing summary
    card = (rd/'fine_tuned'/'README.md').read_text()   # the model's own card, its numbers those of this run's evaluation
    assert 'jobsim' in card and 'O*NET 27.0' in card and 'base_model: sentence-transformers/all-MiniLM-L6-v2' in card
    for k in ('recall@1', 'title_map'):
        assert f"| {ev['base'][k]:.3f} | {ev['fine-tuned'][k]:.3f} |" in card, k

    again = jobsim('pipeline', '--quick')
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count('up to date, skipped') == 5


def test_unknown_stage_is_a_clear_error(home):
    r = jobsim('pipeline', '--quick', '--stages', 'split,nope')
    assert r.returncode == 1
    assert "unknown stage(s) ['nope']" in r.stderr
