"""LangChain's own standard unit suite, run against HeadroomChatModel.

The wrapped model is ScriptedChatModel (GenericFakeChatModel plus bind_tools), so
``has_tool_calling`` and ``has_structured_output`` are on and those tests really run.

Skips, and why they are correct for a wrapper:
- ``test_serdes``: HeadroomChatModel is not LangChain-serializable (it holds an
  arbitrary inner model, hooks and a store), so the suite skips it by design.
- ``test_init_from_env``: the wrapper reads no environment variables; credentials
  belong to the inner model, so there are no ``init_from_env_params`` to give.
"""

from __future__ import annotations

from typing import Any

from langchain_tests.unit_tests import ChatModelUnitTests

from headroom.integrations.langchain import HeadroomChatModel

from .lc_fakes import scripted


class TestHeadroomChatModelStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[HeadroomChatModel]:
        return HeadroomChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"wrapped_model": scripted("ok")}
