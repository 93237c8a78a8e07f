import { html } from "htm/preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, download } from "./api.js";
import { formatEur, t } from "./i18n.js";
import { languagesReady, renderMarkdown, typesetMaths } from "./markdown.js";
import { Passport, placeLabel } from "./passport.js";
import { streamChat } from "./stream.js";

let localIds = 0;
const localId = (prefix) => `${prefix}_local_${++localIds}`;

/** The messages from the root to `leafId`: the branch on screen. */
function branchTo(messages, leafId) {
  const byId = new Map(messages.map((message) => [message.id, message]));
  const branch = [];
  let cursor = byId.get(leafId ?? messages.at(-1)?.id);
  while (cursor && branch.length <= messages.length) {
    branch.push(cursor);
    cursor = cursor.parent_id ? byId.get(cursor.parent_id) : undefined;
  }
  return branch.reverse();
}

/** The newest leaf under `id`, following the latest child at each step. */
function latestLeaf(messages, id) {
  let current = id;
  for (;;) {
    const children = messages.filter((message) => message.parent_id === current);
    if (children.length === 0) return current;
    current = children.at(-1).id;
  }
}

function Markdown({ text }) {
  const ref = useRef();
  const htmlText = useMemo(() => renderMarkdown(text), [text]);
  useEffect(() => {
    if (ref.current) typesetMaths(ref.current);
  }, [htmlText]);
  return html`<div class="markdown" ref=${ref} dangerouslySetInnerHTML=${{ __html: htmlText }} />`;
}

function Reasoning({ message }) {
  const thinking = message.streaming && !message.content;
  const seconds = Math.max(1, Math.round((message.meta?.reasoning_ms ?? 0) / 1000));
  return html`<details class="reasoning" open=${thinking}>
    <summary>${thinking ? t("thinking") : t("thoughtFor", { seconds })}</summary>
    <div class="reasoning-text">${message.reasoning}</div>
  </details>`;
}

function ModelInfo({ model }) {
  if (!model) return null;
  const price = model.pricing;
  const place = model.jurisdiction;
  // Without place information the model is the engine's own: it runs on this server.
  const remote = model.local === undefined ? false : !model.local;
  const input = price?.input_per_million_eur ?? 0;
  const output = price?.output_per_million_eur ?? 0;
  let priceText = t("unknown");
  if (price && (input > 0 || output > 0)) priceText = `${formatEur(input)} in / ${formatEur(output)} out`;
  else if (!remote) priceText = t("selfHosted");
  return html`<p class="model-info" id="model-info">
    ${place ? html`<span class="badge">${placeLabel(place)}</span>` : html`<span class="badge">${t("local")}</span>`}
    ${remote && html`<span>${t("remote")}</span>`}
    <span>${t("licence")}: ${model.licence?.id ?? t("unknown")}</span>
    <span>${t("price")}: ${priceText}</span>
    ${model.synthetic && html`<span class="warn">${t("synthetic")}</span>`}
  </p>`;
}

function Message({ message, siblings, onSwitch, onRegenerate, onEdit, busy }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(message.content);
  const index = siblings.findIndex((sibling) => sibling.id === message.id);
  const switcher =
    siblings.length > 1 &&
    html`<span class="branches" aria-label=${t("branch", { index: index + 1, count: siblings.length })}>
      <button type="button" class="ghost small" aria-label=${t("previousBranch")} disabled=${busy || index === 0}
        onClick=${() => onSwitch(siblings[index - 1].id)}>‹</button>
      ${index + 1}/${siblings.length}
      <button type="button" class="ghost small" aria-label=${t("nextBranch")} disabled=${busy || index === siblings.length - 1}
        onClick=${() => onSwitch(siblings[index + 1].id)}>›</button>
    </span>`;
  if (message.role === "user") {
    return html`<article class="message user" data-role="user">
      ${
        editing
          ? html`<form class="edit" onSubmit=${(event) => {
              event.preventDefault();
              setEditing(false);
              onEdit(message, draft);
            }}>
            <label class="visually-hidden" for=${`edit-${message.id}`}>${t("edit")}</label>
            <textarea id=${`edit-${message.id}`} value=${draft} onInput=${(event) => setDraft(event.currentTarget.value)} rows="3" />
            <div class="row"><button type="submit" class="primary small">${t("save")}</button>
            <button type="button" class="ghost small" onClick=${() => setEditing(false)}>${t("cancel")}</button></div>
          </form>`
          : html`<div class="bubble">${message.content}</div>`
      }
      <div class="message-tools">
        ${switcher}
        ${
          !editing &&
          html`<button type="button" class="ghost small" disabled=${busy} onClick=${() => {
            setDraft(message.content);
            setEditing(true);
          }}>${t("edit")}</button>`
        }
      </div>
    </article>`;
  }
  return html`<article class="message assistant" data-role="assistant" aria-busy=${message.streaming ? "true" : "false"}>
    ${message.reasoning && html`<${Reasoning} message=${message} />`}
    ${message.content ? html`<${Markdown} text=${message.content} />` : message.streaming && !message.reasoning && html`<p class="muted typing" aria-label=${t("thinking")}>…</p>`}
    ${message.meta?.stopped && html`<p class="muted small">${t("stopped")}</p>`}
    ${message.error && html`<p class="error" role="alert">${message.error}</p>`}
    ${
      !message.streaming &&
      html`<div class="message-tools">
      ${switcher}
      <button type="button" class="ghost small" disabled=${busy} onClick=${() => onRegenerate(message)}>${t("regenerate")}</button>
    </div>`
    }
    ${!message.streaming && message.meta?.passport && html`<${Passport} passport=${{ ...message.meta.passport, id: message.id }} />`}
  </article>`;
}

/** Runs a conversation-menu action and folds the menu, so that it does not stay open over the list. */
function closeMenu(event, action) {
  const menu = event.currentTarget.closest("details");
  if (menu) menu.open = false;
  action();
}

function Sidebar({
  conversations,
  activeId,
  query,
  setQuery,
  onNew,
  onRename,
  onDelete,
  onExport,
  open,
  onClose,
}) {
  return html`<aside class=${`sidebar ${open ? "open" : ""}`} aria-label=${t("conversations")}>
    <div class="sidebar-head">
      <button type="button" class="primary" onClick=${onNew}>+ ${t("newChat")}</button>
      <button type="button" class="ghost only-mobile" onClick=${onClose} aria-label=${t("close")}>✕</button>
    </div>
    <label class="visually-hidden" for="conversation-search">${t("search")}</label>
    <input id="conversation-search" type="search" placeholder=${t("search")} value=${query}
      onInput=${(event) => setQuery(event.currentTarget.value)} />
    <ul class="conversation-list">
      ${conversations.length === 0 && html`<li class="muted">${t("noConversations")}</li>`}
      ${conversations.map(
        (
          conversation,
        ) => html`<li key=${conversation.id} class=${conversation.id === activeId ? "active" : ""}>
          <a href=${`#/c/${encodeURIComponent(conversation.id)}`} aria-current=${conversation.id === activeId ? "page" : undefined}
            onClick=${onClose}>${conversation.title}</a>
          <details class="menu">
            <summary aria-label=${`${conversation.title}: ${t("menu")}`}>⋯</summary>
            <div class="menu-items">
              <button type="button" onClick=${(event) => closeMenu(event, () => onRename(conversation))}>${t("rename")}</button>
              <button type="button" onClick=${(event) => closeMenu(event, () => onExport(conversation, "md"))}>${t("exportMd")}</button>
              <button type="button" onClick=${(event) => closeMenu(event, () => onExport(conversation, "json"))}>${t("exportJson")}</button>
              <button type="button" class="danger" onClick=${(event) => closeMenu(event, () => onDelete(conversation))}>${t("delete")}</button>
            </div>
          </details>
        </li>`,
      )}
    </ul>
  </aside>`;
}

/** Model list from `/v1/models`, with where each runs and its price from `/app/api/models`. */
async function loadModels() {
  const [{ data }, places] = await Promise.all([
    api.get("/v1/models"),
    api.get("/app/api/models").catch(() => ({ data: [] })),
  ]);
  const byId = new Map(places.data.map((entry) => [entry.id, entry]));
  return data
    .filter((model) => model.capabilities?.chat !== false)
    .map((model) => {
      const place = byId.get(model.id);
      return place
        ? { ...model, jurisdiction: place.jurisdiction, pricing: place.pricing, local: place.local }
        : model;
    });
}

/** The chat: conversation list, messages of the shown branch, and the composer. */
export function Chat({ conversationId }) {
  const [conversations, setConversations] = useState([]);
  const [query, setQuery] = useState("");
  const [conversation, setConversation] = useState();
  const [models, setModels] = useState([]);
  const [model, setModel] = useState(localStorage.getItem("bastion.model") ?? "");
  const [input, setInput] = useState("");
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState("");
  const [sidebarOpen, setSidebarOpen] = useState(false);
  const controller = useRef();
  const scroller = useRef();
  const composer = useRef();
  const storageOk = useRef(true);

  const refreshList = async (text = query) => {
    try {
      const { data } = await api.get(`/app/api/conversations${text ? `?q=${encodeURIComponent(text)}` : ""}`);
      setConversations(data);
    } catch (error) {
      storageOk.current = false;
      setNotice(t("storageUnavailable", { message: error.message }));
    }
  };

  useEffect(() => {
    loadModels().then(
      (list) => {
        setModels(list);
        setModel((current) => (list.some((entry) => entry.id === current) ? current : (list[0]?.id ?? "")));
      },
      (error) => setNotice(error.message),
    );
    languagesReady.catch(() => {});
  }, []);
  useEffect(() => {
    // The first load is immediate; typing in the search box is debounced.
    const timer = setTimeout(() => refreshList(query), query ? 150 : 0);
    return () => clearTimeout(timer);
  }, [query]);
  useEffect(() => {
    if (!conversationId) {
      setConversation(undefined);
      return;
    }
    if (conversation?.id === conversationId) return;
    api.get(`/app/api/conversations/${encodeURIComponent(conversationId)}`).then(
      (loaded) => {
        setConversation(loaded);
        if (loaded.model) setModel(loaded.model);
      },
      (error) => setNotice(error.message),
    );
  }, [conversationId]);

  // Esc stops a generation wherever the focus is.
  useEffect(() => {
    const onKey = (event) => {
      if (event.key === "Escape" && controller.current) {
        event.preventDefault();
        controller.current.abort();
      }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);

  const messages = conversation?.messages ?? [];
  const branch = branchTo(messages, conversation?.active_leaf_id);

  useEffect(() => {
    const element = scroller.current;
    if (element && element.scrollHeight - element.scrollTop - element.clientHeight < 160)
      element.scrollTop = element.scrollHeight;
  });

  const update = (mutate) => setConversation((current) => (current ? mutate(current) : current));

  const saveMessage = async (conversationNow, message) => {
    if (!storageOk.current || conversationNow.id.includes("_local_"))
      return { ...message, id: localId("msg") };
    try {
      return await api.post(
        `/app/api/conversations/${encodeURIComponent(conversationNow.id)}/messages`,
        message,
      );
    } catch (error) {
      setNotice(t("storageUnavailable", { message: error.message }));
      return { ...message, id: localId("msg") };
    }
  };

  const ensureConversation = async (firstText) => {
    if (conversation) return conversation;
    const title = firstText.replace(/\s+/g, " ").trim().slice(0, 60) || t("newChat");
    let created;
    try {
      if (!storageOk.current) throw new Error("storage");
      created = { ...(await api.post("/app/api/conversations", { title, model })), messages: [] };
      history.replaceState(null, "", `#/c/${encodeURIComponent(created.id)}`);
    } catch {
      created = { id: localId("conv"), title, model, messages: [], active_leaf_id: null };
    }
    setConversation(created);
    setConversations((list) => [created, ...list.filter((entry) => entry.id !== created.id)]);
    return created;
  };

  /** Streams an answer to the branch ending at `parent` and stores it as a new child of it. */
  const answer = async (conversationNow, parent) => {
    const transcript = branchTo(conversationNow.messages, parent.id).map((message) => ({
      role: message.role,
      content: message.content,
    }));
    const pending = {
      id: localId("pending"),
      parent_id: parent.id,
      role: "assistant",
      content: "",
      reasoning: "",
      streaming: true,
      meta: {},
    };
    update((current) => ({
      ...current,
      messages: [...current.messages, pending],
      active_leaf_id: pending.id,
    }));
    const abort = new AbortController();
    controller.current = abort;
    setBusy(true);
    let reasoningStarted;
    let reasoningMs;
    let passport;
    let error;
    let content = "";
    let reasoning = "";
    let frame;
    const flush = () => {
      frame = undefined;
      update((current) => ({
        ...current,
        messages: current.messages.map((message) =>
          message.id === pending.id
            ? {
                ...message,
                content,
                reasoning,
                meta: {
                  reasoning_ms: reasoningMs ?? (reasoningStarted ? performance.now() - reasoningStarted : 0),
                },
              }
            : message,
        ),
      }));
    };
    try {
      passport = await streamChat({
        model,
        messages: transcript,
        signal: abort.signal,
        on: (event) => {
          if (event.type === "reasoning") {
            reasoningStarted ??= performance.now();
            reasoning += event.text;
          } else {
            if (reasoningStarted !== undefined && reasoningMs === undefined)
              reasoningMs = performance.now() - reasoningStarted;
            content += event.text;
          }
          frame ??= requestAnimationFrame(flush);
        },
      });
    } catch (failure) {
      if (failure.name !== "AbortError") error = failure.message;
      else passport = failure.passport;
    } finally {
      if (frame) cancelAnimationFrame(frame);
      controller.current = undefined;
    }
    if (reasoningStarted !== undefined && reasoningMs === undefined)
      reasoningMs = performance.now() - reasoningStarted;
    const stopped = abort.signal.aborted;
    const meta = {
      ...(passport ? { passport } : {}),
      ...(reasoningMs === undefined ? {} : { reasoning_ms: Math.round(reasoningMs) }),
      ...(stopped ? { stopped: true } : {}),
    };
    let saved = { ...pending, content, reasoning, streaming: false, meta, model, error };
    if (content || reasoning || passport) {
      const stored = await saveMessage(conversationNow, {
        parent_id: parent.id,
        role: "assistant",
        content,
        reasoning: reasoning || null,
        model,
        meta,
      });
      saved = { ...stored, error };
    }
    update((current) => ({
      ...current,
      messages: current.messages.map((message) => (message.id === pending.id ? saved : message)),
      active_leaf_id: saved.id,
    }));
    setBusy(false);
    refreshList();
    composer.current?.focus();
  };

  const sendUser = async (text, parentId) => {
    const conversationNow = await ensureConversation(text);
    const stored = await saveMessage(conversationNow, {
      parent_id: parentId,
      role: "user",
      content: text,
      model,
    });
    const next = {
      ...conversationNow,
      messages: [...conversationNow.messages, stored],
      active_leaf_id: stored.id,
    };
    setConversation(next);
    await answer(next, stored);
  };

  const send = async (event) => {
    event?.preventDefault();
    const text = input.trim();
    if (!text || busy || !model) return;
    setInput("");
    await sendUser(text, branch.at(-1)?.id ?? null);
  };

  const switchTo = async (id) => {
    const leaf = latestLeaf(messages, id);
    update((current) => ({ ...current, active_leaf_id: leaf }));
    if (storageOk.current && !conversation.id.includes("_local_"))
      api
        .patch(`/app/api/conversations/${encodeURIComponent(conversation.id)}`, { active_leaf_id: leaf })
        .catch(() => {});
  };

  const regenerate = async (message) => {
    const parent = messages.find((entry) => entry.id === message.parent_id);
    if (parent) await answer(conversation, parent);
  };

  const editAndResend = async (message, text) => {
    if (!text.trim()) return;
    await sendUser(text.trim(), message.parent_id);
  };

  const rename = async (item) => {
    const title = prompt(t("renameTo"), item.title);
    if (!title?.trim()) return;
    try {
      const updated = await api.patch(`/app/api/conversations/${encodeURIComponent(item.id)}`, {
        title: title.trim(),
      });
      setConversations((list) =>
        list.map((entry) => (entry.id === item.id ? { ...entry, title: updated.title } : entry)),
      );
      if (conversation?.id === item.id) update((current) => ({ ...current, title: updated.title }));
    } catch (error) {
      setNotice(error.message);
    }
  };

  const remove = async (item) => {
    if (!confirm(t("confirmDelete", { title: item.title }))) return;
    try {
      if (!item.id.includes("_local_"))
        await api.delete(`/app/api/conversations/${encodeURIComponent(item.id)}`);
      setConversations((list) => list.filter((entry) => entry.id !== item.id));
      if (conversation?.id === item.id) location.hash = "#/";
    } catch (error) {
      setNotice(error.message);
    }
  };

  const exportConversation = (item, format) =>
    download(`/app/api/conversations/${encodeURIComponent(item.id)}/export?format=${format}`).catch((error) =>
      setNotice(error.message),
    );

  const newChat = () => {
    controller.current?.abort();
    setConversation(undefined);
    setSidebarOpen(false);
    location.hash = "#/";
    composer.current?.focus();
  };

  const selected = models.find((entry) => entry.id === model);
  const onKeyDown = (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  };

  return html`<div class="chat">
    <${Sidebar} conversations=${conversations} activeId=${conversation?.id} query=${query} setQuery=${setQuery}
      onNew=${newChat} onRename=${rename} onDelete=${remove} onExport=${exportConversation}
      open=${sidebarOpen} onClose=${() => setSidebarOpen(false)} />
    <main class="chat-main">
      <div class="chat-head">
        <button type="button" class="ghost only-mobile" aria-label=${t("conversations")} aria-expanded=${sidebarOpen}
          onClick=${() => setSidebarOpen(!sidebarOpen)}>☰</button>
        <h1 class="chat-title">${conversation?.title ?? t("newChat")}</h1>
        <label class="visually-hidden" for="model-select">${t("model")}</label>
        <select id="model-select" value=${model} aria-describedby="model-info" disabled=${busy} onChange=${(
          event,
        ) => {
          setModel(event.currentTarget.value);
          localStorage.setItem("bastion.model", event.currentTarget.value);
        }}>
          ${models.map((entry) => html`<option value=${entry.id}>${entry.id}</option>`)}
        </select>
      </div>
      <${ModelInfo} model=${selected} />
      ${notice && html`<p class="notice" role="status">${notice} <button type="button" class="ghost small" onClick=${() => setNotice("")}>${t("close")}</button></p>`}
      <section class="messages" ref=${scroller} aria-live="polite" aria-label=${t("conversations")}>
        ${branch.length === 0 && html`<div class="empty"><p>${t("emptyChat")}</p></div>`}
        ${branch.map((message) => {
          const siblings = messages.filter(
            (entry) => entry.parent_id === message.parent_id && entry.role === message.role,
          );
          return html`<${Message} key=${message.id} message=${message} siblings=${siblings} busy=${busy}
            onSwitch=${switchTo} onRegenerate=${regenerate} onEdit=${editAndResend} />`;
        })}
      </section>
      <form class="composer" onSubmit=${send}>
        <label class="visually-hidden" for="composer-input">${t("message")}</label>
        <textarea id="composer-input" ref=${composer} rows="2" placeholder=${t("placeholder")} value=${input}
          onInput=${(event) => setInput(event.currentTarget.value)} onKeyDown=${onKeyDown} />
        ${
          busy
            ? html`<button type="button" class="danger" onClick=${() => controller.current?.abort()}>${t("stop")}</button>`
            : html`<button type="submit" class="primary" disabled=${!input.trim() || !model}>${t("send")}</button>`
        }
      </form>
    </main>
  </div>`;
}
