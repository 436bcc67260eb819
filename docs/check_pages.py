"""Look at what optflow shows people, in a real browser: `python docs/check_pages.py`.

Runs a 20-trial random-search study on digits and the Pareto example (examples/pareto_cnn), serves the MLflow UI
and optuna-dashboard on 127.0.0.1, opens the study reports, the MLflow experiment and study runs, and the
dashboard in headless Chromium, checks that each drew (SVG paths of every plot, the runs and notes in the
pages), and saves screenshots to docs/images/ui/. Needs Debian's `chromium` and `chromium-driver` and
`pip install -e ".[ui]"` (selenium). Exits non-zero, naming the page, when something did not draw.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow import MlflowClient
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

import optflow
from optflow.contract import run_page

ROOT = Path(__file__).resolve().parents[1]
PARETO_EXAMPLE = ROOT / "examples" / "pareto_cnn" / "config.yaml"
SHOTS = ROOT / "docs" / "images" / "ui"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")  # fmt: skip
# the expander of a parent run in the MLflow 3.17 runs table (an icon-only button without a label)
EXPAND_RUN = "[col-id='attributes.`Run Name`'] button[data-component-id*='runnamecellrenderer']"
PATHS_PER_PLOT = "return [...document.querySelectorAll('.js-plotly-plot')].map(p => p.querySelectorAll('path').length)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(command: list[str], ready: str) -> subprocess.Popen:
    """A server process, returned once a line of its output says it is ready."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    for line in process.stdout:
        if ready in line:
            return process
    raise RuntimeError(f"{command[0]} ended without saying {ready!r}")


def browser(width: int = 1400, height: int = 900) -> webdriver.Chrome:
    options = Options()
    for flag in (*CHROMIUM_FLAGS, f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def wait_for_text(driver: webdriver.Chrome, text: str, timeout: float = 60) -> None:
    WebDriverWait(driver, timeout).until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "body"), text))


def close_assistant(driver: webdriver.Chrome) -> None:
    """Close the MLflow UI's assistant panel, which takes a third of the window (nothing if it is not there)."""
    buttons = driver.find_elements(By.CSS_SELECTOR, "button[aria-label*='lose']")
    for button in buttons[-1:]:
        button.click()


def check(condition: bool, what: str) -> None:
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        raise SystemExit(1)


def run_study(tmp: Path) -> tuple[str, str, str, str]:
    """(tracking URI, storage URL, study run id, Pareto study run id) of a small study and of the Pareto
    example (two objectives, a constraint), in the same stores."""
    tracking, storage = f"sqlite:///{tmp}/mlflow.db", f"sqlite:///{tmp}/optuna.db"
    overrides = {"study.n_trials": 20, "study.sampler": "random", "study.storage": storage, "training.epochs": 12}
    overrides["study.log_models"] = "best"
    result = optflow.tune(ROOT / "configs" / "digits.yaml", overrides=overrides, tracking_uri=tracking)
    pareto = optflow.tune(PARETO_EXAMPLE, overrides={"study.storage": storage}, tracking_uri=tracking)
    return tracking, storage, result.study_run_id, pareto.study_run_id


def main() -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        tracking, storage, run_id, pareto_run_id = run_study(tmp)
        client = MlflowClient(tracking)
        report = Path(client.download_artifacts(run_id, "plots/report.html", tmp_name))
        print(f"report.html: {report.stat().st_size / 1e6:.1f} MB")
        mlflow_port, dashboard_port = free_port(), free_port()
        servers = [
            serve(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "server",
                    "--backend-store-uri",
                    tracking,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(mlflow_port),
                    "--workers",
                    "1",
                ],
                "Uvicorn running on",
            ),  # fmt: skip
            serve(
                [
                    sys.executable,
                    "-m",
                    "optflow",
                    "dashboard",
                    "--storage",
                    storage,
                    "--port",
                    str(dashboard_port),
                    "--artifact-dir",
                    str(tmp / "optuna_artifacts"),
                ],
                "listening on",
            ),  # fmt: skip
        ]
        driver = browser()
        try:
            driver.set_window_size(1200, 3200)
            driver.get(report.as_uri())
            WebDriverWait(driver, 60).until(lambda d: d.execute_script("return window.Plotly !== undefined"))
            paths = driver.execute_script(PATHS_PER_PLOT)
            check(len(paths) == 4 and min(paths) > 0, f"the report drew its 4 plots offline (SVG paths {paths})")
            driver.save_screenshot(str(SHOTS / "report.png"))

            driver.set_window_size(1400, 900)
            experiment = client.get_run(run_id).info.experiment_id
            driver.get(f"http://127.0.0.1:{mlflow_port}/{run_page(experiment, run_id)}")
            wait_for_text(driver, "Best trial")
            time.sleep(2)  # the page settles its layout after the text arrives; for the picture only
            close_assistant(driver)
            check("trial-" in driver.find_element(By.TAG_NAME, "body").text, "the study run links its best trial")
            driver.save_screenshot(str(SHOTS / "mlflow_study_run.png"))
            pareto_experiment = client.get_run(pareto_run_id).info.experiment_id
            driver.get(f"http://127.0.0.1:{mlflow_port}/{run_page(pareto_experiment, pareto_run_id)}")
            wait_for_text(driver, "Pareto front")
            close_assistant(driver)
            for more in driver.find_elements(By.XPATH, "//*[normalize-space(text())='Show more']")[:1]:
                more.click()  # the description's table is folded under it
            time.sleep(2)  # for the picture only
            body = driver.find_element(By.TAG_NAME, "body").text
            check("n_params" in body and "trial-" in body, "the Pareto study run shows its front as a linked table")
            driver.save_screenshot(str(SHOTS / "mlflow_pareto_run.png"))
            (tmp / "pareto").mkdir()
            pareto_report = Path(client.download_artifacts(pareto_run_id, "plots/report.html", str(tmp / "pareto")))
            driver.set_window_size(1200, 3600)
            driver.get(pareto_report.as_uri())
            WebDriverWait(driver, 60).until(lambda d: d.execute_script("return window.Plotly !== undefined"))
            paths = driver.execute_script(PATHS_PER_PLOT)
            check(min(paths) > 0 and "Pareto" in driver.page_source, f"the Pareto report drew its plots {paths}")
            driver.set_window_size(1200, 820)  # its first plot, the front
            time.sleep(1)  # for the picture only
            driver.save_screenshot(str(SHOTS / "report_pareto.png"))
            driver.set_window_size(1400, 900)
            driver.get(f"http://127.0.0.1:{mlflow_port}/#/experiments/{experiment}/runs?workflowType=machine_learning")
            expand = expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, EXPAND_RUN))
            WebDriverWait(driver, 60).until(expand).click()
            wait_for_text(driver, "trial-0000")  # the study run expands to its trial runs
            close_assistant(driver)
            time.sleep(2)  # the page settles its layout after the text arrives; for the picture only
            driver.save_screenshot(str(SHOTS / "mlflow_experiment.png"))
            check(True, "the MLflow experiment opens on its runs: the study run expands to its trial runs")

            dashboard = f"http://127.0.0.1:{dashboard_port}/dashboard/studies/1"
            driver.get(dashboard)
            wait_for_text(driver, "History")
            time.sleep(2)  # for the picture only
            driver.save_screenshot(str(SHOTS / "dashboard_study.png"))
            driver.get(f"http://127.0.0.1:{dashboard_port}/dashboard/studies/2")
            wait_for_text(driver, "Pareto Front")
            time.sleep(2)  # for the picture only
            driver.save_screenshot(str(SHOTS / "dashboard_pareto.png"))
            check(True, "optuna-dashboard shows the two-objective study's Pareto front")
            driver.get(f"{dashboard}/note")
            wait_for_text(driver, "MLflow study run")
            check(True, "optuna-dashboard shows the study's note linking its MLflow study run")
            driver.get(f"{dashboard}/trials")
            wait_for_text(driver, "MLflow run")
            wait_for_text(driver, "loss_curve.png")
            time.sleep(2)  # for the picture only
            driver.save_screenshot(str(SHOTS / "dashboard_trial.png"))
            check(True, "optuna-dashboard shows a trial's note, its MLflow run and its loss-curve artifact")
        finally:
            driver.quit()
            for server in servers:  # with its worker processes
                os.killpg(server.pid, signal.SIGTERM)
                server.wait()
    print("\n".join(str(p.relative_to(ROOT)) for p in sorted(SHOTS.glob("*.png"))))


if __name__ == "__main__":
    main()
