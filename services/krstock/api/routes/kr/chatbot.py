"""/api/kr/chatbot routes: a rule-based chat with per-user memory and history (``X-User-Id``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header
from fastapi.responses import JSONResponse

from krstock.api.deps import READ_ACCESS, SessionDep, StateDep
from krstock.api.infra.chat_store import ChatStore, user_id
from krstock.api.services import chatbot

router = APIRouter(prefix="/chatbot", dependencies=[READ_ACCESS])
MESSAGE_MAX = 2000
MEMORY_ITEMS_MAX = 50


def _store(
    state: StateDep, x_user_id: str | None = Header(default=None, max_length=64)
) -> ChatStore:
    """This user's chat store (the ``X-User-Id`` header; ``default`` without one)."""
    return ChatStore(state.redis, user_id(x_user_id))


StoreDep = Annotated[ChatStore, Depends(_store)]


@router.post("", summary="Chat (rule-based, answers from the DB)")
def chat(
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
    store = _store(state, x_user_id or (body or {}).get("user_id"))
    reply = chatbot.answer(session, store, message)
    store.append("user", message)
    store.append("model", reply)
    return JSONResponse({"response": reply, "source": chatbot.SOURCE})


@router.get("/welcome", summary="Welcome message")
def chat_welcome() -> dict[str, Any]:
    return {"message": chatbot.WELCOME, "source": chatbot.SOURCE}


@router.get("/memory", summary="This user's memory")
def chat_memory(store: StoreDep) -> dict[str, Any]:
    return {"memory": store.memory()}


@router.post("/memory", summary="Update this user's memory")
def chat_memory_update(
    state: StateDep,
    body: dict[str, Any] = Body(...),
    x_user_id: str | None = Header(default=None, max_length=64),
) -> JSONResponse:
    if len(body) > MEMORY_ITEMS_MAX:  # refused before the user id or Redis is looked at
        return JSONResponse({"error": "at most 50 memory items per update"}, status_code=400)
    _store(state, x_user_id).remember(body)
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


@router.get("/status", summary="Chatbot status (source: rules)")
def chat_status(store: StoreDep) -> dict[str, Any]:
    return chatbot.status(store)
