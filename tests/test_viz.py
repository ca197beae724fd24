"`jobsim plot`: the base vs fine-tuned t-SNE figure and its files."
import shutil, subprocess, sys
from pathlib import Path
import pytest
from jobsim.core import fine_tuned_dir
from jobsim.models import load_model
from jobsim.viz import plot_tsne


@pytest.fixture
def fine_tuned(home):
    "A stand-in fine-tuned model: the base model saved where `jobsim train` puts its output."
    load_model('sentence-transformers/all-MiniLM-L6-v2', device='cpu').save(str(fine_tuned_dir()))
    return fine_tuned_dir()


def test_figure_has_two_panels_twenty_groups_and_one_point_per_title(fine_tuned, home):
    fig, scores, paths = plot_tsne(n_seeds=20)
    assert [a.text.split('<br>')[0] for a in fig.layout.annotations] == ['base', 'fine-tuned']
    assert len({t.legendgroup for t in fig.data}) == 20
    for axis in ('x', 'x2'):
        pts = [t for t in fig.data if (t.xaxis or 'x') == axis]
        titles = [c[0] for t in pts for c in t.customdata]
        assert len(titles) == 100 and len(set(titles)) == len(titles)   # 20 seeds x 5 jittered titles, each once
    assert set(scores.columns) >= {'silhouette', 'intra_cos', 'inter_cos'}
    assert paths['html'].exists() and paths['html'].parent == home.resolve()/'runs'/'default'


def test_plot_cli_without_fine_tuned_model_says_how_to_train(home):
    r = subprocess.run([str(Path(sys.executable).parent/'jobsim'), 'plot'], capture_output=True, text=True)
    assert r.returncode == 1
    assert 'run `jobsim train` first' in r.stderr


@pytest.mark.skipif(not shutil.which('chromium'), reason='PNG export needs Chromium (apt-get install chromium)')
def test_plot_cli_writes_html_and_png(fine_tuned, home):
    r = subprocess.run([str(Path(sys.executable).parent/'jobsim'), 'plot', '--n_seeds', '8'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = home.resolve()/'runs'/'default'
    assert (out/'embedding_visualization.html').stat().st_size > 1000
    assert (out/'embedding_visualization.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert f'png: {out/"embedding_visualization.png"}' in r.stdout
