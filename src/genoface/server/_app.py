"""The FastAPI application of ``genoface serve``: HTTP in, :mod:`genoface.usecases.viewer` calls,
JSON or files out. Every error is a JSON ``{"error": "..."}`` with a 4xx status (404 for an
unknown model, sample or face, 413 for an oversized upload, 503 when the work queue is full);
an unexpected failure is a 500 with a one-line message, its traceback only in the server's log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import logging
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError, one_line
from genoface.genetics import GenomeFile, raw_data_person
from genoface.server._pool import ServerBusy, WorkerPool
from genoface.server._uploads import BodyLimit, save_upload
from genoface.usecases.viewer import (
    EXPORT_FORMATS,
    LoadedModel,
    NotFoundError,
    PersonGenome,
    export_face,
    genome_from_cohort,
    genome_from_file,
    load_models,
    person_traits,
    predict_faces,
    rank_gallery,
    thumbnail,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
_TOKEN_COOKIE = "genoface_token"
_CACHED = 256  # traits records and thumbnails kept (derived results, never genotypes)


@dataclass
class ServerSettings:
    """What ``genoface serve`` was started with."""

    models: list[Path]
    cohort: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    max_upload_mb: float = 200.0
    workers: int = 2
    queue: int = 8
    processes: int = 1


@dataclass
class GenomeRequest:
    """Whose genome a request is about: an uploaded file (``person`` in it) or a cohort sample."""

    upload: UploadFile | None
    sample: str | None
    person: str | None


@dataclass
class GenomeForm:
    """The form fields the Predict and Match requests share: the model, whose genome, and the
    covariates to predict at."""

    model: str
    genome: GenomeRequest
    covariates: dict[str, Any]


def genome_form(
    model: Annotated[str, Form()],
    file: Annotated[UploadFile | None, File()] = None,
    sample: Annotated[str | None, Form()] = None,
    person: Annotated[str | None, Form()] = None,
    age: Annotated[str | None, Form()] = None,
    sex: Annotated[str | None, Form()] = None,
    bmi: Annotated[str | None, Form()] = None,
) -> GenomeForm:
    return GenomeForm(model, GenomeRequest(file, sample, person), _covariates(age, sex, bmi))


@dataclass
class Download:
    """A face file to download, named after the person it was predicted for."""

    content: bytes
    sample: str


class _LRU:
    """A small least-recently-stored cache shared by the worker threads."""

    def __init__(self) -> None:
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            return self._items.get(key)

    def remember(self, key: Any, value: Any) -> Any:
        with self._lock:
            self._items[key] = value
            while len(self._items) > _CACHED:
                self._items.popitem(last=False)
        return value


class ServerState:
    """The models and cohort loaded once, the worker pool, and small caches of derived results."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.models = load_models(settings.models)
        for model in self.models.values():  # prepared now, not on the first request
            model.prepare()
        self.cohort = Cohort.load(settings.cohort) if settings.cohort is not None else None
        self.pool = WorkerPool(settings.workers, settings.queue)
        self.limit = int(settings.max_upload_mb * 1e6)
        self.demographic = next((m for m in self.models.values() if m.model.name == "demographic"), None)
        self.traits, self.thumbnails = _LRU(), _LRU()

    def model(self, label: str) -> LoadedModel:
        if label not in self.models:
            raise NotFoundError(f"no model {label!r} is served here; choose one of {', '.join(self.models)}")
        return self.models[label]

    @contextlib.contextmanager
    def genome(self, model: LoadedModel, request: GenomeRequest) -> Iterator[tuple[PersonGenome, str]]:
        """The person's genome on ``model``'s panel and a key naming its source; an upload lives
        in a temporary directory removed when the block ends, whatever happens."""
        if (request.upload is None) == (not request.sample):
            raise GenofaceError("give either a genome file or a cohort sample id, not both and not neither")
        if request.upload is None:
            if self.cohort is None:
                raise GenofaceError("this server has no cohort: upload a genome file, or start it with --cohort")
            yield genome_from_cohort(self.cohort, str(request.sample), model), f"cohort:{request.sample}"
            return
        name = _upload_name(request.upload.filename)
        with tempfile.TemporaryDirectory(prefix="genoface-upload-") as tmp:
            try:
                path, digest = save_upload(request.upload.file, request.upload.filename, Path(tmp), self.limit)
                file = GenomeFile.read(path)
                if file.consumer:  # one person, known by the upload's name (not by our fixed "genome")
                    file.calls = dataclasses.replace(file.calls, sample_id=raw_data_person(name))
                genome = genome_from_file(file, model, request.person)
                genome.report.source = name
                yield genome, f"file:{digest}:{request.person or ''}"
            except GenofaceError as e:  # name the upload as the user knows it, not by our temporary path
                raise type(e)(re.sub(re.escape(tmp) + r"/genome[\w.]*", name, str(e))) from None

    def predict(self, model: LoadedModel, request: GenomeRequest, options: dict[str, Any], fmt: str) -> Any:
        """The page's JSON record of the person's faces and traits, or (``fmt`` a file format)
        the first face as a :class:`Download`."""
        with self.genome(model, request) as (genome, key):
            drawn = predict_faces(model, genome, **options)
            if fmt != "json":
                content = export_face(drawn.faces[0], model.model.template_triangles_, fmt, genome.sample)
                return Download(content, genome.sample)
            traits = self.traits.get((model.label, key))
            if traits is None:
                traits = self.traits.remember((model.label, key), person_traits(model, genome, self.cohort))
            return {
                "sample": genome.sample,
                "faces": [_flat(f) for f in drawn.faces],
                "difference_mm": [_flat(d) for d in drawn.difference_mm],
                "traits": traits,
                "allele_report": f"alleles: {genome.report.summary()}; what is not matched is treated as missing",
                "covariates": drawn.covariates,
            }

    def match(self, model: LoadedModel, request: GenomeRequest, covariates: dict[str, Any], top: int) -> dict:
        if self.cohort is None:
            raise GenofaceError("this server has no cohort to match against: start it with --cohort")
        with self.genome(model, request) as (genome, _):
            demographic = None
            if self.demographic is not None:
                d = self.demographic
                demo_genome = (
                    genome_from_file(genome.source, d, genome.sample)
                    if genome.source is not None
                    else genome_from_cohort(self.cohort, genome.sample, d)
                )
                demographic = (d, demo_genome)
            return rank_gallery(model, genome, self.cohort, covariates=covariates, demographic=demographic, top=top)

    def thumbnail(self, face_id: str) -> bytes:
        if self.cohort is None:
            raise NotFoundError("this server has no cohort, so no faces")
        png = self.thumbnails.get(face_id)
        return png if png is not None else self.thumbnails.remember(face_id, thumbnail(self.cohort, face_id))


def _upload_name(filename: str | None) -> str:
    """The uploaded file's own name, for messages only (never a path on this machine)."""
    name = re.sub(r"[^\w .,()+-]", "_", Path(filename or "upload").name)[:100]
    return name or "upload"


def _flat(a: np.ndarray) -> list[float]:
    return np.round(np.asarray(a, dtype=np.float64).ravel(), 3).tolist()


def _number(text: str | None, what: str) -> float | None:
    if text is None or not str(text).strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise GenofaceError(f"{what} must be a number, got {text!r}") from None
    if not np.isfinite(value):
        raise GenofaceError(f"{what} must be a finite number, got {text!r}")
    return value


def _covariates(age: str | None, sex: str | None, bmi: str | None) -> dict[str, Any]:
    sex = (sex or "").strip().upper() or None
    if sex not in (None, "F", "M"):
        raise GenofaceError(f"sex must be F or M (or left empty), got {sex!r}")
    return {"age": _number(age, "age"), "sex": sex, "bmi": _number(bmi, "bmi")}


def _attachment(name: str, fmt: str) -> dict[str, str]:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "face"
    return {"Content-Disposition": f'attachment; filename="{safe}.{fmt}"'}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": one_line(message)}, status_code=status)


def _authorized(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    given = given or request.query_params.get("token", "") or request.cookies.get(_TOKEN_COOKIE, "")
    return hmac.compare_digest(given.encode(), token.encode())


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(GenofaceError)
    async def genoface_error(request: Request, exc: GenofaceError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFoundError) else 503 if isinstance(exc, ServerBusy) else 400
        return _error(status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        return _error(422, f"{where or 'request'}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request %s %s failed", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); the server's log has the details")


def _install_token(app: FastAPI, token: str | None) -> None:
    if token is None:
        return

    @app.middleware("http")
    async def require_token(request: Request, call_next: Any) -> Response:
        if not _authorized(request, token):
            return _error(401, "this server needs its token: open the address it printed (…?token=…)")
        response = await call_next(request)
        if request.query_params.get("token"):  # the page's own assets and images then carry it
            response.set_cookie(_TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response


def create_app(settings: ServerSettings) -> FastAPI:
    """The application: the Predict and Match pages, their assets, and the JSON API."""
    state = ServerState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        state.pool.close()

    app = FastAPI(title="genoface", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.genoface = state
    _install_handlers(app)
    _install_token(app, settings.token)
    app.add_middleware(BodyLimit, limit=state.limit)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _install_pages(app)
    _install_info(app, state)
    _install_api(app, state)
    return app


def _install_pages(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def predict_page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/match", include_in_schema=False)
    async def match_page() -> FileResponse:
        return FileResponse(STATIC / "match.html")


def _install_info(app: FastAPI, state: ServerState) -> None:
    @app.get("/api/models")
    async def models() -> dict:
        cohort = state.cohort
        return {
            "models": [m.info() for m in state.models.values()],
            "cohort": None
            if cohort is None
            else {"name": cohort.meta.get("name"), "sample_ids": [str(s) for s in cohort.sample_ids]},
        }

    @app.get("/api/models/{label}/template")
    async def template(label: str) -> dict:
        model = state.model(label)
        return {
            "triangles": np.asarray(model.model.template_triangles_).ravel().tolist(),
            "mean": _flat(model.mean_face),
        }


def _install_api(app: FastAPI, state: ServerState) -> None:
    @app.post("/api/predict")
    async def predict(
        form: Annotated[GenomeForm, Depends(genome_form)],
        n_faces: Annotated[str | None, Form()] = None,
        format: Annotated[str, Form()] = "json",
    ) -> Response:
        loaded = state.model(form.model)
        fmt = format.strip().lower()
        if fmt != "json" and fmt not in EXPORT_FORMATS:
            raise GenofaceError(f"unknown format {format!r}; use json, {', '.join(EXPORT_FORMATS)}")
        options = form.covariates | {"n_faces": int(_number(n_faces, "n_faces") or 1)}
        result = await state.pool.run(state.predict, loaded, form.genome, options, fmt)
        if fmt == "json":
            return JSONResponse(result)
        return Response(result.content, media_type=EXPORT_FORMATS[fmt], headers=_attachment(result.sample, fmt))

    @app.post("/api/match")
    async def match(
        form: Annotated[GenomeForm, Depends(genome_form)],
        top: Annotated[str | None, Form()] = None,
    ) -> dict:
        loaded = state.model(form.model)
        k = int(_number(top, "top") or 20)
        return await state.pool.run(state.match, loaded, form.genome, form.covariates, k)

    @app.get("/api/faces/{face_id}.png")
    async def face_png(face_id: str) -> Response:
        return Response(await state.pool.run(state.thumbnail, face_id), media_type="image/png")
