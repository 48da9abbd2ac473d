"""``flexopt serve``: the regulators' workbench, a Starlette app on a local uvicorn server.

The page (flexopt/web/static: HTML, JS and CSS shipped in the package, nothing from a CDN) edits a scenario
text, checks it as ``flexopt check`` does, changes it through a form, runs cases through the run queue and
shows the results. The server keeps no draft: each tab sends its own text with every request, so tabs never
see each other's unsaved edits. Every path is resolved inside the workspace (:mod:`flexopt.web.workspace`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import re
import socket
import sys
from functools import lru_cache
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from flexopt.errors import FlexoptError, Problem
from flexopt.web.runs import RunQueue, output_folder
from flexopt.web.runner import RunSpec
from flexopt.web.workspace import RUNS_FOLDER, OutsideWorkspace, Workspace

STATIC = Path(__file__).with_name("static")
#: Largest request body the API reads (a scenario text and a little JSON around it).
MAX_BODY_BYTES = 5 * 1024 * 1024
_CASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _problem_json(problem: Problem) -> dict:
    span = problem.span
    return {"message": problem.message, "hint": problem.hint, "severity": problem.severity,
            "file": span.file if span else None, "line": span.line if span else None,
            "column": span.column if span else None, "end_line": span.end_line if span else None,
            "end_column": span.end_column if span else None, "text": problem.format()}


def _error(err: FlexoptError, status: int = 400) -> JSONResponse:
    return JSONResponse({"problems": [_problem_json(p) for p in err.problems]}, status_code=status)


def _message(text: str, hint: str | None = None, status: int = 400) -> JSONResponse:
    return _error(FlexoptError([Problem(text, None, hint)]), status)


@lru_cache(maxsize=1)
def keywords() -> tuple[str, ...]:
    """The words of the language, from the grammar itself, for the editor's highlighting."""
    from flexopt.language.grammar import grammar_text

    return tuple(sorted(set(re.findall(r'"([a-z][a-z]*)"', grammar_text()))))


def outside_references(syntax, folder: Path, workspace: Workspace) -> list[Problem]:
    """Data files the text names outside the workspace (the server reads nothing outside it)."""
    found: list[Problem] = []

    def visit(node) -> None:
        if isinstance(node, (tuple, list)):
            for item in node:
                visit(item)
            return
        if not dataclasses.is_dataclass(node) or isinstance(node, type):
            return
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            named_file = f.name == "path" or (f.name == "reference" and getattr(node, "source", "") == "file")
            if named_file and value is not None and hasattr(value, "text"):
                target = (folder / value.text).resolve()
                if not target.is_relative_to(workspace.root):
                    found.append(Problem(f'"{value.text}" is outside the workbench\'s folder', value.span,
                                         f"the workbench reads only files inside {workspace.root}; copy the file "
                                         "there and name it relative to the scenario"))
            elif f.name != "span":
                visit(value)

    visit(syntax.statements)
    return found


class Workbench:
    """The app's state: its workspace, the scenario it opened with, its run queue."""

    def __init__(self, workspace: Workspace, opened: str | None = None, jobs: int = 1) -> None:
        self.workspace = workspace
        self.opened = opened
        self.jobs = jobs
        self.runs = RunQueue(jobs)

    # -- helpers ------------------------------------------------------------------------------------------
    async def body(self, request: Request) -> dict:
        data = await request.body()
        if len(data) > MAX_BODY_BYTES:
            raise FlexoptError([Problem("the request is too large", None, "scenario texts are at most a few MB")])
        import json

        try:
            value = json.loads(data or b"{}")
        except ValueError:
            raise FlexoptError([Problem("the request is not JSON", None, None)]) from None
        if not isinstance(value, dict):
            raise FlexoptError([Problem("the request is not a JSON object", None, None)])
        return value

    def scenario_path(self, relative) -> Path:
        if not isinstance(relative, str) or not relative.endswith(".flex"):
            raise OutsideWorkspace([Problem(f"{relative}: not a scenario file (.flex)", None,
                                            "open a .flex file of the workspace")])
        return self.workspace.resolve(relative, must_exist=False)

    def validate(self, relative: str, text: str):
        """(scenario or None, problems, warnings) for ``text`` as if it were the file ``relative``: the same
        parser and validator as ``flexopt check``, after refusing data files outside the workspace."""
        from flexopt.language import syntax as sx
        from flexopt.language.validate import validate

        path = self.scenario_path(relative)
        try:
            syntax = sx.parse_text(text, relative)
        except FlexoptError as err:
            return None, err.problems, []
        outside = outside_references(syntax, path.parent, self.workspace)
        if outside:
            return None, outside, []
        try:
            scenario, warnings = validate(syntax, path.parent)
        except FlexoptError as err:
            return None, err.problems, []
        return scenario, [], warnings

    # -- pages and API ------------------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def state(self, request: Request) -> Response:
        return JSONResponse({"workspace": str(self.workspace.root), "opened": self.opened, "jobs": self.jobs,
                             "scenarios": [dataclasses.asdict(s) for s in self.workspace.scenarios()],
                             "keywords": list(keywords())})

    async def scenario(self, request: Request) -> Response:
        relative = request.query_params.get("path", "")
        self.scenario_path(relative)
        return JSONResponse({"path": relative, "text": self.workspace.read_scenario(relative)})

    async def check(self, request: Request) -> Response:
        from flexopt.language.summary import format_summary

        data = await self.body(request)
        relative, text = data.get("path"), str(data.get("text", ""))
        scenario, problems, warnings = self.validate(relative, text)
        result = {"problems": [_problem_json(p) for p in problems + list(warnings)], "ok": scenario is not None}
        if scenario is not None:
            result["summary"] = format_summary(scenario, relative)
            result["cases"] = [{"name": c.name, "title": c.title or "", "extends": c.extends or ""}
                               for c in scenario.cases]
        return JSONResponse(result)

    async def form(self, request: Request) -> Response:
        from flexopt.web.form import form_fields

        data = await self.body(request)
        fields = form_fields(str(data.get("text", "")), str(data.get("path", "<scenario>")))
        return JSONResponse({"fields": [f.as_json() for f in fields]})

    async def form_apply(self, request: Request) -> Response:
        from flexopt.web.form import apply_change

        data = await self.body(request)
        text = apply_change(str(data.get("text", "")), str(data.get("key", "")), str(data.get("value", "")),
                            str(data.get("path", "<scenario>")))
        return JSONResponse({"text": text})

    async def new_case(self, request: Request) -> Response:
        """Append ``case NAME "TITLE" extends BASE { }`` to the text, for the form to fill."""
        data = await self.body(request)
        text, name = str(data.get("text", "")), str(data.get("name", "")).strip()
        base, title = str(data.get("extends", "")).strip(), str(data.get("title", "")).replace('"', "'").strip()
        if not _CASE_NAME.match(name):
            return _message(f"'{name}' is not a case name", "letters, digits and _, starting with a letter")
        if re.search(rf"(?m)^\s*case\s+{re.escape(name)}\b", text):
            return _message(f"the scenario already has a case '{name}'", "choose another name")
        if base and not _CASE_NAME.match(base):
            return _message(f"'{base}' is not a case name", "pick the case to start from")
        line = f"case {name}" + (f' "{title}"' if title else "") + (f" extends {base}" if base else "") + " { }\n"
        return JSONResponse({"text": text.rstrip("\n") + "\n\n" + line})

    async def save(self, request: Request) -> Response:
        data = await self.body(request)
        relative, text = str(data.get("path", "")), str(data.get("text", ""))
        path, saved = self.workspace.save_scenario(relative, text, bool(data.get("overwrite", False)))
        return JSONResponse({"path": relative, "saved": saved, "exists": not saved})

    async def submit(self, request: Request) -> Response:
        data = await self.body(request)
        relative, text = data.get("path"), str(data.get("text", ""))
        scenario, problems, _ = self.validate(relative, text)
        if scenario is None:
            return JSONResponse({"problems": [_problem_json(p) for p in problems]}, status_code=400)
        from flexopt.run import pick_cases

        cases = pick_cases(scenario, [str(c) for c in data.get("cases") or []])
        out = output_folder(self.workspace.root / RUNS_FOLDER, text)
        spec = RunSpec(str(self.scenario_path(relative)), text, tuple(c.name for c in cases), str(out), self.jobs,
                       bool(data.get("figures", True)))
        run = self.runs.submit(spec, {c.name: tuple(f.name for f in c.feeders) for c in cases})
        return JSONResponse(run.as_json())

    async def list_runs(self, request: Request) -> Response:
        return JSONResponse({"runs": self.runs.all()})

    def _run(self, request: Request) -> dict:
        run = self.runs.get(request.path_params["run_id"])
        if run is None:
            raise FlexoptError([Problem("no such run", None, "runs last as long as the server")])
        return run

    async def run(self, request: Request) -> Response:
        return JSONResponse(self._run(request))

    async def cancel(self, request: Request) -> Response:
        run = self._run(request)
        return JSONResponse({"cancelled": self.runs.cancel(run["id"])})

    def _folder(self, request: Request):
        from flexopt.web.results import RunFolder

        run = self._run(request)
        if run["state"] != "done" or not run["folder"]:
            raise FlexoptError([Problem(f"run {run['id']} is {run['state']}, not done", None, "wait for it to end")])
        folder = self.workspace.resolve(self.workspace.relative(Path(run["folder"])))
        return RunFolder(folder, tuple(run["cases"]))

    async def results(self, request: Request) -> Response:
        from flexopt.web import results

        folder = self._folder(request)
        chosen = tuple(c for c in request.query_params.get("cases", "").split(",") if c) or None
        if chosen and not set(chosen) <= set(folder.cases):
            return _message("these cases are not in the run", f"cases of the run: {', '.join(folder.cases)}")
        payload = results.tables(folder, chosen)
        payload["figures"] = results.figures(folder, self.workspace.root)
        payload["downloads"] = results.downloads(folder, self.workspace.root)
        return JSONResponse(payload)

    async def chart(self, request: Request) -> Response:
        from flexopt.web import results

        folder = self._folder(request)
        case = request.query_params.get("case") or folder.cases[0]
        feeder = request.query_params.get("feeder", "")
        if not feeder:
            from flexopt.results.store import read_dataset

            feeder = str(read_dataset(folder.dataset_path(case), ("status",)).feeder.values[0])
        return JSONResponse(results.chart_points(folder, case, feeder))

    async def file(self, request: Request) -> Response:
        path = self.workspace.output(request.path_params["path"])
        inline = path.suffix in (".png", ".html")
        return FileResponse(path, filename=None if inline else path.name,
                            content_disposition_type="inline" if inline else "attachment")


def create_app(workspace: str | Path, opened: str | None = None, jobs: int = 1) -> Starlette:
    """The workbench app over ``workspace``; ``opened``: a scenario file (relative) the page opens first."""
    bench = Workbench(Workspace.at(workspace), opened, jobs)

    def guarded(handler):
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except OutsideWorkspace as err:
                return _error(err, 403)
            except FlexoptError as err:
                return _error(err)
            except Exception as err:  # noqa: BLE001 - the page gets a message, the console the traceback
                import traceback

                traceback.print_exc()
                return _message(f"internal error ({type(err).__name__}: {err})", "this is a bug in flexopt, not in "
                                "your input; please report it with the scenario text", 500)
        return endpoint

    routes = [Route("/", guarded(bench.index)),
              Route("/api/state", guarded(bench.state)),
              Route("/api/scenario", guarded(bench.scenario)),
              Route("/api/check", guarded(bench.check), methods=["POST"]),
              Route("/api/form", guarded(bench.form), methods=["POST"]),
              Route("/api/form/apply", guarded(bench.form_apply), methods=["POST"]),
              Route("/api/case", guarded(bench.new_case), methods=["POST"]),
              Route("/api/save", guarded(bench.save), methods=["POST"]),
              Route("/api/runs", guarded(bench.list_runs)),
              Route("/api/runs", guarded(bench.submit), methods=["POST"]),
              Route("/api/runs/{run_id}", guarded(bench.run)),
              Route("/api/runs/{run_id}/cancel", guarded(bench.cancel), methods=["POST"]),
              Route("/api/runs/{run_id}/results", guarded(bench.results)),
              Route("/api/runs/{run_id}/chart", guarded(bench.chart)),
              Route("/files/{path:path}", guarded(bench.file)),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        bench.runs.stop()  # the server stops: waiting runs are dropped, the running one interrupted

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.workbench = bench
    return app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(file: str | None, host: str = "127.0.0.1", port: int = 8765, jobs: int = 1) -> int:
    """Start the workbench over the current folder (or the FILE's folder when FILE lies outside it)."""
    import uvicorn

    workspace = Path.cwd().resolve()
    opened = None
    if file is not None:
        path = Path(file).resolve()
        if not path.is_file():
            raise FlexoptError([Problem(f"{file}: no such scenario file", None,
                                        "give a .flex file, or no file to list the scenarios of this folder")])
        if not path.is_relative_to(workspace):
            workspace = path.parent
        opened = path.relative_to(workspace).as_posix()
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a closed port is free
    try:
        probe.bind((host, port))
    except OSError as err:
        raise FlexoptError([Problem(f"cannot listen on {host}:{port}: {err.strerror or err}", None,
                                    "another program uses that port: choose another with --port")]) from None
    finally:
        probe.close()
    if not is_loopback(host):
        print(f"warning: the workbench listens on {host}, reachable from other machines; it has no login, and "
              "anyone who reaches it can read and write the scenarios of its folder", file=sys.stderr)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?file={opened}" if opened else "")
    print(f"flexopt workbench on {url}  (folder {workspace}; Ctrl-C stops)", flush=True)
    app = create_app(workspace, opened, jobs)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0

