"The served dashboard in a real browser: Voila on 127.0.0.1, headless Debian Chromium driven by Playwright."
import os, re, shutil, signal, socket, subprocess, sys, time
from contextlib import contextmanager
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync']
OUT = ROOT/'test-output'
QUERY = 'registered nurse'

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f'{CHROMIUM} is not installed: apt-get install -y chromium')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@contextmanager
def serve_dashboard(home: Path, log_path: Path):
    "Run `voila nbs/08_demo.ipynb` on a free port of 127.0.0.1 with JOBSIM_HOME=home; stop it (and its kernels) by PID."
    import psutil
    port = free_port()
    voila = Path(sys.executable).parent/'voila'
    cmd = [str(voila) if voila.exists() else sys.executable, *([] if voila.exists() else ['-m', 'voila']), 'nbs/08_demo.ipynb',
           '--no-browser', '--Voila.ip=127.0.0.1', f'--port={port}',
           '--MappingKernelManager.cull_idle_timeout=120', '--MappingKernelManager.cull_interval=30']
    env = {**os.environ, 'JOBSIM_HOME': str(home), 'HF_HUB_OFFLINE': '1', 'TOKENIZERS_PARALLELISM': 'false',
           'PYTHONPATH': os.pathsep.join([str(ROOT), *filter(None, [os.environ.get('PYTHONPATH')])])} # the kernel imports this checkout's jobsim
    with open(log_path, 'w') as log: proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 90
        while True:
            if proc.poll() is not None: pytest.fail(f'voila exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}')
            try:
                with socket.create_connection(('127.0.0.1', port), timeout=1): break
            except OSError:
                if time.time() > deadline: pytest.fail(f'voila did not listen on port {port} within 90 s:\n{log_path.read_text()[-3000:]}')
                time.sleep(0.5)
        yield f'http://127.0.0.1:{port}/'
    finally:
        try: kids = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess: kids = []
        proc.send_signal(signal.SIGTERM)
        try: proc.wait(20)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()
        for k in kids:  # its kernels: they exit when voila does; make sure
            try: k.terminate(); k.wait(10)
            except psutil.NoSuchProcess: pass
            except psutil.TimeoutExpired: k.kill()


def posting_ids(hits) -> list[int]:
    "The posting ids of the result rows, top first."
    return [int(x) for x in hits.locator('.jt-hit').evaluate_all('els => els.map(e => e.dataset.postingId)')]


def hit_title(locator) -> str:
    "The posting title of a result row (its bold '3. Title' part, without the rank)."
    return re.sub(r'^\d+\.\s*', '', locator.locator('b').inner_text()).strip()


@pytest.mark.parametrize('case', ['no_fine_tuned', 'with_fine_tuned'])
def test_dashboard_search_similar_and_back_in_chromium(case, homes, tmp_path):
    from playwright.sync_api import sync_playwright, expect
    OUT.mkdir(exist_ok=True)
    fine_tuned = case == 'with_fine_tuned'
    with serve_dashboard(homes[case], tmp_path/'voila.log') as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 1100})
            t = time.perf_counter()
            page.goto(url, timeout=120_000)
            box = page.locator('.jt-query input')
            expect(box).to_be_visible(timeout=240_000)
            print(f'\n[{case}] page ready in {time.perf_counter() - t:.1f} s')
            default, tuned = page.locator('.jt-col-default .jt-result'), page.locator('.jt-col-fine-tuned .jt-result')
            status = page.locator('.jt-status')
            expect(page.locator('.jt-col-default')).to_contain_text('Default model')
            expect(page.locator('.jt-col-fine-tuned')).to_contain_text('Fine-tuned model')
            if not fine_tuned: expect(page.locator('.jt-col-fine-tuned .jt-note')).to_contain_text('jobsim train')

            # a query, submitted with Enter: both columns fill (the second only when there is a fine-tuned model)
            box.fill(QUERY)
            t = time.perf_counter()
            box.press('Enter')
            expect(default).to_have_count(10, timeout=60_000)
            if fine_tuned: expect(tuned).to_have_count(10, timeout=60_000)
            filled = time.perf_counter() - t
            print(f'[{case}] query -> {"both columns" if fine_tuned else "default column"} filled: {filled:.2f} s')
            expect(status).to_contain_text(f'Top 10 postings for “{QUERY}”')
            expect(default.first).to_contain_text(re.compile('nurse', re.I))
            # above the columns: the query's likely occupations from the fine-tuned model's coder (the default model's without one)
            occupations = page.locator('.jt-occupations')
            expect(occupations).to_contain_text(f'Most likely occupations ({"fine-tuned" if fine_tuned else "default"} model):', timeout=60_000)
            expect(occupations.locator('.jt-occ').first).to_contain_text(re.compile(r'Nurs.*29-\d{4}\.\d{2}.*\d+%'))
            assert occupations.locator('.jt-occ').count() == 3
            if fine_tuned: expect(tuned.first).to_contain_text(re.compile('nurse', re.I))
            else:
                expect(tuned).to_have_count(0)
                expect(page.locator('.jt-col-fine-tuned .jt-note')).to_contain_text('jobsim train')
            expect(default.first.locator('.jt-meta')).to_contain_text('O*NET:')
            page.screenshot(path=str(OUT/f'dashboard-{case}-search.png'), full_page=True)
            search_ids = posting_ids(default)

            # 'Show most similar jobs' on the second hit: new results for both models, without that posting
            chosen, chosen_id = hit_title(default.nth(1)), search_ids[1]
            page.locator('.jt-col-default button.jt-similar').nth(1).click()
            expect(status).to_contain_text('Postings most similar to', timeout=60_000)
            expect(status).to_contain_text(chosen)
            expect(default).to_have_count(10)
            if fine_tuned: expect(tuned).to_have_count(10)
            similar_ids = posting_ids(default)
            assert chosen_id not in similar_ids and similar_ids != search_ids
            if fine_tuned: assert chosen_id not in posting_ids(tuned)
            expect(page.locator('button.jt-back')).to_be_visible()
            page.screenshot(path=str(OUT/f'dashboard-{case}-similar.png'), full_page=True)

            # back to the search: the query and its results come back
            page.locator('button.jt-back').click()
            expect(status).to_contain_text(f'Top 10 postings for “{QUERY}”', timeout=60_000)
            expect(default).to_have_count(10)
            assert posting_ids(default) == search_ids
            expect(box).to_have_value(QUERY)
            expect(page.locator('button.jt-back')).to_be_hidden()

            # each likely occupation says what it is in O*NET's words; a related occupation's button searches for it
            detail = page.locator('.jt-occ-details .jt-occ-detail').first
            expect(detail).to_contain_text(re.compile(r'Nurs.*29-\d{4}\.\d{2}: \w.*\.'))
            expect(page.locator('.jt-footer')).to_contain_text('O*NET 27.0')
            related = page.locator('.jt-occ-details button.jt-related').first
            name = related.inner_text().strip()
            related.click()
            expect(status).to_contain_text(f'Top 10 postings for “{name}”', timeout=60_000)
            expect(box).to_have_value(name)
            expect(default).to_have_count(10)

            # the Search button, and an empty query that says what to do instead of breaking the page
            box.fill('data scientist'); page.locator('button.jt-search').click()
            expect(status).to_contain_text('“data scientist”', timeout=60_000)
            expect(page.locator('.jt-occupations')).to_contain_text(re.compile('Data Scien|Statistic|Analy', re.I))
            expect(default.first).to_contain_text(re.compile('data|scien|analy', re.I))
            box.fill('   '); page.locator('button.jt-search').click()
            expect(status).to_contain_text('the query is empty', timeout=60_000)
            expect(default).to_have_count(10)
        finally:
            browser.close()
