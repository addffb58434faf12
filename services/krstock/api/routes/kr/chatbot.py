"""/api/kr/chatbot routes: Gemini with read-only tools over the database when a key is
configured, rules otherwise (``krstock.api.services.chatbot``); every answer states its
``source``. Per-user memory and history live in Redis (the app's own Redis URL, nothing else).

The user is the verified API key, or the client address where anonymous chat is allowed;
``X-User-Id`` (or the body's ``user_id``, as the monolith's frontend sends it) is only a
sub-namespace under that user (``krstock.api.infra.chat_store``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import JSONResponse

from krstock.api.deps import READ_ACCESS, SessionDep, StateDep
from krstock.api.infra.chat_store import ChatStore, identity, limits_for, sub_namespace
from krstock.api.infra.errors import ApiError
from krstock.api.infra.ratelimit import client_ip
from krstock.api.services import chatbot

router = APIRouter(prefix="/chatbot", dependencies=[READ_ACCESS])
MESSAGE_MAX = 2000
MEMORY_ITEMS_MAX = 50


def _chat_store(request: Request, state: StateDep, sub: str | None) -> ChatStore:
    """The caller's chat store: its verified key (set by ``READ_ACCESS``) or its address."""
    record = getattr(request.state, "api_key", None)
    if record is None and not state.api.chat_allow_anonymous:
        raise ApiError(
            401,
            "chat needs an API key: send it in the X-API-Key header",
            "missing_api_key",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    who = identity(record.prefix if record else None, client_ip(request), sub_namespace(sub))
    return ChatStore(state.redis, who, limits_for(state.api, who.pool), state.api.chat_prefix)


def _store(
    request: Request,
    state: StateDep,
    x_user_id: str | None = Header(default=None, max_length=64),
) -> ChatStore:
    return _chat_store(request, state, x_user_id)


StoreDep = Annotated[ChatStore, Depends(_store)]


@router.post("", summary="Chat (Gemini with read-only tools, or rules; answers from the DB)")
def chat(
    request: Request,
    state: StateDep,
    session: SessionDep,
    body: dict[str, Any] | None = Body(default=None),
    x_user_id: str | None = Header(default=None, max_length=64),
) -> JSONResponse:
    message = (body or {}).get("message")
    if not isinstance(message, str) or not message.strip():
        return JSONResponse({"error": "message is required"}, status_code=400)
    if len(message) > MESSAGE_MAX:
        return JSONResponse({"error": "message is too long (2000 max)"}, status_code=400)
    # The user may also come in the body, as the monolith's frontend sends it.
    sub = x_user_id or (body or {}).get("user_id")
    store = _chat_store(request, state, sub if isinstance(sub, str) else None)
    reply = chatbot.answer(session, store, message, chatbot.chat_model_for(state))
    store.append("user", message)
    store.append("model", reply.text, source=reply.source)
    return JSONResponse(reply.body())


@router.get("/welcome", summary="Welcome message")
def chat_welcome(state: StateDep) -> dict[str, Any]:
    model = chatbot.chat_model_for(state)
    return {"message": chatbot.WELCOME, "source": chatbot.GEMINI if model else chatbot.RULES}


@router.get("/memory", summary="This user's memory")
def chat_memory(store: StoreDep) -> dict[str, Any]:
    return {"memory": store.memory()}


@router.post("/memory", summary="Update this user's memory")
def chat_memory_update(
    request: Request,
    state: StateDep,
    body: dict[str, Any] = Body(...),
    x_user_id: str | None = Header(default=None, max_length=64),
) -> JSONResponse:
    if len(body) > MEMORY_ITEMS_MAX:  # refused before the user id or Redis is looked at
        return JSONResponse({"error": "at most 50 memory items per update"}, status_code=400)
    _chat_store(request, state, x_user_id).remember(body)
    return JSONResponse({"status": "ok"})


@router.delete("/memory", summary="Clear this user's memory")
def chat_memory_clear(store: StoreDep) -> dict[str, str]:
    store.forget()
    return {"status": "cleared"}


@router.get("/history", summary="This user's chat history")
def chat_history(store: StoreDep) -> dict[str, Any]:
    return {"history": store.history()}


@router.delete("/history", summary="Clear this user's chat history")
def chat_history_clear(store: StoreDep) -> dict[str, str]:
    store.clear_history()
    return {"status": "cleared"}


@router.get("/status", summary="Chatbot status (source: gemini or rules, the model, tools)")
def chat_status(store: StoreDep, state: StateDep) -> dict[str, Any]:
    return chatbot.status(store, chatbot.chat_model_for(state))
