// Moderation page. The token lives only in this tab (sessionStorage) and is
// sent as a Bearer header, which other sites cannot make a browser send:
// that, plus POST-only actions, is the CSRF defence. Post text is rendered
// through textContent only. The alerts panel (#22) polls its own route
// every 15 s: alerts change over minutes, the queue over seconds.
// Moderators as a team (#21): a live channel (/api/moderation/events, read
// with fetch so the token stays in a header) tells who else is here and every
// action as it is taken; a post someone else decided leaves this queue at once.
// Keyboard: j/k or arrows move, a/h/p decide, b twice (or b, Enter) blocks.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = "tagwatch-moderation-token";
  let token = sessionStorage.getItem(KEY) || "";
  let filter = "pending";
  let timer = null;
  let alertTimer = null;
  const ALERTS_EVERY_MS = 15000;
  let posts = []; // the current filter's posts, in the order shown
  let count = 0; // the filter's length (may exceed the posts listed)
  let selected = null; // id of the selected post
  let blockArmed = null; // id of the post whose author b would block on the next b/Enter
  let epoch = 0; // bumped by each local decision: a queue read started before it is stale
  const deciding = new Set(); // ids sent but not yet answered: a queue read must not bring them back
  let stream = null; // AbortController of the live channel
  let you = "";
  let recent = []; // {action, post_id, moderator, at: local ms}
  let recentTimer = null;
  let byKey = false; // the last input was a key, not the mouse
  const DECIDES = new Set(["approve", "hide", "pin", "block"]);
  const DONE = {
    approve: "approved",
    hide: "hid",
    pin: "pinned",
    unpin: "unpinned",
    block: "blocked the author of",
    unblock: "unblocked the author of",
    reset: "reset",
  };

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  async function api(path, options) {
    const opts = options || {};
    const headers = { Authorization: "Bearer " + token };
    if (opts.body) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { ...opts, headers, cache: "no-store" });
    let data = {};
    try {
      data = await r.json();
    } catch (err) {
      data = { error: "HTTP " + r.status };
    }
    if (r.status === 401) {
      lock("Wrong token.");
      throw new Error(data.error);
    }
    if (!r.ok) throw new Error(data.error || "HTTP " + r.status);
    return data;
  }

  function say(text) {
    $("message").textContent = text;
  }

  function button(label, action, id) {
    const b = el("button", "act act-" + action, label);
    b.type = "button";
    b.dataset.action = action;
    b.dataset.postId = String(id);
    return b;
  }

  // Moderators see every picture (signed addresses from the moderation API, served by the
  // wall's own proxy); a sensitive one stays blurred until hovered or clicked.
  const revealed = new Set();
  function pictures(p) {
    const media = p.media || [];
    if (!media.length) return null;
    const box = el("div", "pics" + (p.sensitive && !revealed.has(p.id) ? " blur" : ""));
    if (p.sensitive) box.title = "Sensitive: hover or click to see it";
    for (const m of media) {
      const fig = el("figure", "pic" + (m.kind === "image" ? "" : " " + m.kind));
      const img = el("img");
      img.alt = m.alt || "";
      img.onerror = () => fig.replaceWith(el("span", "flag warn", "picture unavailable"));
      img.src = m.src;
      const alt = el("figcaption", m.alt ? "alt" : "alt none", m.alt || "no description");
      alt.dir = "auto";
      fig.append(img, alt);
      if (m.kind !== "image") fig.append(el("span", "kind", m.kind));
      box.append(fig);
    }
    box.addEventListener("click", () => {
      revealed.add(p.id);
      box.classList.remove("blur");
    });
    return box;
  }

  function item(p) {
    const li = el("li", "item state-" + p.state + (p.on_wall ? " on-wall" : ""));
    li.dataset.postId = String(p.id);
    li.tabIndex = p.id === selected ? 0 : -1; // one tab stop: the selected post
    if (p.id === selected) {
      li.classList.add("selected");
      li.setAttribute("aria-current", "true");
    }
    const head = el("div", "head");
    const name = el("b", "name", p.name || p.handle);
    name.dir = "auto";
    head.append(name, el("span", "handle", " @" + p.handle + " · " + p.platform + " · "));
    head.append(el("span", "time", new Date(p.created_at).toLocaleString()));
    const text = el("p", "text", p.text);
    text.dir = "auto";
    const flags = el("div", "flags");
    flags.append(el("span", "flag state", p.state));
    if (p.on_wall) flags.append(el("span", "flag wall", "on the wall"));
    if (p.pinned) flags.append(el("span", "flag", "pinned"));
    if (p.sensitive) flags.append(el("span", "flag warn", "sensitive"));
    const shown = (p.media || []).length;
    if (p.media_count > shown) {
      flags.append(el("span", "flag", p.media_count - shown + " media without a picture"));
    }
    if (p.reason && p.state !== "pending") flags.append(el("span", "flag warn", p.reason));
    if (p.reason && p.state === "pending" && p.reason !== "waiting for approval") {
      flags.append(el("span", "flag warn", p.reason));
    }
    const actions = el("div", "actions");
    actions.append(button("Approve", "approve", p.id), button("Hide", "hide", p.id));
    actions.append(p.pinned ? button("Unpin", "unpin", p.id) : button("Pin", "pin", p.id));
    actions.append(
      p.blocked ? button("Unblock author", "unblock", p.id) : button("Block author", "block", p.id),
    );
    li.append(head, text);
    const pics = pictures(p);
    if (pics) li.append(pics);
    li.append(flags, actions);
    return li;
  }

  function seenState(p) {
    return p.blocked ? "blocked" : p.state;
  }

  function showLength() {
    const n = count;
    $("queue-length").textContent =
      filter === "pending"
        ? n + (n === 1 ? " post waiting" : " posts waiting")
        : n + (n === 1 ? " post" : " posts");
  }

  function render(focus) {
    if (!posts.some((p) => p.id === selected)) selected = posts.length ? posts[0].id : null;
    // Re-rendering removes the focused item: a keyboard user keeps the focus on the selection.
    const hadFocus = $("queue").contains(document.activeElement);
    $("queue").replaceChildren(...posts.map(item));
    if (!posts.length) $("queue").replaceChildren(el("li", "none", "Nothing here."));
    showLength();
    if ((focus || hadFocus) && selected !== null) {
      const li = $("queue").querySelector('.item[data-post-id="' + selected + '"]');
      if (li) {
        li.focus({ preventScroll: true });
        if (focus) li.scrollIntoView({ block: "nearest" });
      }
    }
  }

  function setPosts(list, total) {
    const keep = filter === "pending" ? list.filter((p) => !deciding.has(p.id)) : list;
    posts = keep;
    count = Math.max(keep.length, total - (list.length - keep.length));
    render(false);
  }

  // Takes a post out of this page's list (decided here or by someone else): the
  // selection moves to the post that took its place, so the next key acts on it.
  function drop(id) {
    const i = posts.findIndex((p) => p.id === id);
    if (i < 0) return;
    const wasSelected = selected === id;
    posts.splice(i, 1);
    count = Math.max(0, count - 1);
    if (blockArmed === id) blockArmed = null;
    if (wasSelected) selected = posts.length ? posts[Math.min(i, posts.length - 1)].id : null;
    // Moved by a key (or while the queue has focus): keep the new selection focused and in view.
    render(wasSelected && (byKey || $("queue").contains(document.activeElement)));
  }

  async function load() {
    if (!token) return;
    const started = epoch;
    try {
      const data = await api("/api/moderation/posts?show=" + encodeURIComponent(filter));
      if (started === epoch) setPosts(data.posts, data.count ?? data.posts.length);
      const logData = await api("/api/moderation/log");
      $("log").replaceChildren(
        ...logData.log.map((e) =>
          el(
            "li",
            null,
            e.at + "  " + (e.moderator || "?") + "  " + e.action + "  post " +
              (e.post_id ?? "-") + "  " + (e.detail || ""),
          ),
        ),
      );
    } catch (err) {
      say(String(err.message || err));
    }
  }

  function outcome(deliveries) {
    if (!deliveries.length) return "not sent (no channel)";
    return deliveries
      .map((d) => {
        const status = d.status === "suppressed" ? "held back" : d.status;
        return d.channel + " " + status + (d.reason ? " (" + d.reason + ")" : "");
      })
      .join(", ");
  }

  function alertItem(a) {
    const li = el("li", "alert " + (a.resolved_at ? "resolved" : "open"));
    li.dataset.alertId = String(a.id);
    const head = el("div", "head");
    const title = el("b", "alert-title", a.title);
    title.dir = "auto";
    head.append(el("span", "time", new Date(a.fired_at).toLocaleString() + " "), title);
    const flags = el("div", "flags");
    flags.append(el("span", "flag kind", a.kind));
    if (a.target) flags.append(el("span", "flag target", a.target));
    flags.append(
      a.resolved_at
        ? el("span", "flag resolved", "back to normal " + new Date(a.resolved_at).toLocaleString())
        : el("span", "flag warn", "still on"),
    );
    flags.append(el("span", "flag outcome", outcome(a.deliveries)));
    li.append(head, flags);
    return li;
  }

  async function loadAlerts() {
    if (!token) return;
    try {
      const data = await api("/api/moderation/alerts");
      $("alert-list").replaceChildren(...data.alerts.map(alertItem));
      if (!data.alerts.length) {
        $("alert-list").replaceChildren(el("li", "none", "No alerts in the last 24 h."));
      }
    } catch (err) {
      say(String(err.message || err));
    }
  }

  async function act(action, id, confirmed) {
    id = Number(id);
    if (action === "block" && !confirmed && !confirm("Block this author? All their posts leave the wall.")) return;
    const p = posts.find((x) => x.id === id);
    const body = { action, post_id: id };
    if (p) body.seen = seenState(p);
    epoch += 1;
    deciding.add(id);
    // In the waiting queue a decision takes the post out at once: the next key acts on the next.
    if (filter === "pending" && DECIDES.has(action)) drop(id);
    else if (p && selected === id) move(1);
    try {
      await api("/api/moderation/action", { method: "POST", body: JSON.stringify(body) });
      say(action + " done for post " + id);
    } catch (err) {
      say(String(err.message || err));
    }
    deciding.delete(id);
    epoch += 1;
    load();
  }

  function move(step) {
    if (!posts.length) return;
    const i = posts.findIndex((p) => p.id === selected);
    const j = Math.max(0, Math.min(posts.length - 1, (i < 0 ? 0 : i) + step));
    selected = posts[j].id;
    blockArmed = null;
    render(true);
  }

  function toggleKeys(show) {
    const open = show === undefined ? $("keys").hidden : show;
    $("keys").hidden = !open;
    $("keys-button").setAttribute("aria-expanded", String(open));
  }

  function onKey(e) {
    if (!token || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
    const key = e.key;
    byKey = true;
    if (key === "?") return toggleKeys();
    if (key === "Escape") {
      if (blockArmed !== null) say("Block cancelled.");
      blockArmed = null;
      return toggleKeys(false);
    }
    if (key === "j" || key === "ArrowDown") return e.preventDefault(), move(1);
    if (key === "k" || key === "ArrowUp") return e.preventDefault(), move(-1);
    if (selected === null) return;
    const id = selected;
    const p = posts.find((x) => x.id === id);
    if (key === "a") return act("approve", id);
    if (key === "h") return act("hide", id);
    if (key === "p") return act("pin", id);
    if ((key === "b" || key === "Enter") && blockArmed === id) {
      e.preventDefault();
      blockArmed = null;
      return act("block", id, true);
    }
    if (key === "b") {
      blockArmed = id;
      say("Block @" + (p ? p.handle : "?") + " and all their posts? Press b again or Enter to block, Esc to cancel.");
    }
  }

  // -- the moderators' live channel --------------------------------------

  function ago(ms) {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    return Math.floor(s / 3600) + " h ago";
  }

  function renderRecent() {
    $("recent").replaceChildren(
      ...recent
        .slice(-10)
        .reverse()
        .map((a) => {
          const li = el("li", "action");
          li.dataset.logId = String(a.id);
          li.append(el("b", "who", a.moderator || "someone"));
          const what = " " + (DONE[a.action] || a.action) + (a.post_id != null ? " #" + a.post_id : "");
          li.append(document.createTextNode(what + " · " + ago(a.at)));
          return li;
        }),
    );
    if (!recent.length) $("recent").replaceChildren(el("li", "none", "Nothing yet."));
  }

  function renderHere(names) {
    $("here").replaceChildren(
      ...names.map((n, i) => {
        const span = el("span", "here" + (n === you ? " you" : ""), n === you ? n + " (you)" : n);
        span.dataset.name = n;
        return i ? [document.createTextNode(", "), span] : [span];
      }).flat(),
    );
  }

  function received(actions, now) {
    // The server's clock may differ from this laptop's: keep each action's age, not its time.
    const offset = Date.now() - Date.parse(now);
    for (const a of actions) {
      recent.push({ ...a, at: Date.parse(a.at) + offset });
    }
    recent = recent.slice(-50);
  }

  function onEvent(type, data) {
    if (type === "hello") {
      you = data.you;
      recent = [];
      received(data.actions, data.now);
      renderHere(data.here);
      renderRecent();
    } else if (type === "presence") {
      renderHere(data.here);
    } else if (type === "actions") {
      received(data.actions, data.now);
      renderRecent();
      for (const a of data.actions) {
        if (filter === "pending" && DECIDES.has(a.action)) drop(a.post_id);
      }
      load(); // the rest (a blocked author's other posts, other filters, the log) from the server
    }
  }

  async function listen() {
    const mine = new AbortController();
    stream = mine;
    while (stream === mine && token) {
      try {
        const r = await fetch("/api/moderation/events", {
          headers: { Authorization: "Bearer " + token },
          cache: "no-store",
          signal: mine.signal,
        });
        if (r.status === 401) return lock("Wrong token.");
        if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let cut;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            let type = "message";
            const lines = [];
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) type = line.slice(7);
              else if (line.startsWith("data: ")) lines.push(line.slice(6));
            }
            if (lines.length) onEvent(type, JSON.parse(lines.join("\n")));
          }
        }
      } catch (err) {
        if (mine.signal.aborted) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  function unlock() {
    $("login").hidden = true;
    $("filters").hidden = false;
    $("alerts").hidden = false;
    $("team").hidden = false;
    $("queue-length").hidden = false;
    load();
    loadAlerts();
    listen();
    if (recentTimer === null) recentTimer = setInterval(renderRecent, 5000);
    if (timer === null) timer = setInterval(load, 3000);
    if (alertTimer === null) alertTimer = setInterval(loadAlerts, ALERTS_EVERY_MS);
  }

  function lock(reason) {
    token = "";
    sessionStorage.removeItem(KEY);
    $("login").hidden = false;
    $("filters").hidden = true;
    $("queue").replaceChildren();
    $("log").replaceChildren();
    $("alerts").hidden = true;
    $("alert-list").replaceChildren();
    $("team").hidden = true;
    $("queue-length").hidden = true;
    $("recent").replaceChildren();
    $("here").replaceChildren();
    posts = [];
    selected = null;
    if (stream !== null) stream.abort();
    stream = null;
    if (recentTimer !== null) clearInterval(recentTimer);
    recentTimer = null;
    $("login-error").textContent = reason || "";
    if (timer !== null) clearInterval(timer);
    if (alertTimer !== null) clearInterval(alertTimer);
    timer = null;
    alertTimer = null;
  }

  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    token = $("token").value.trim();
    $("token").value = "";
    sessionStorage.setItem(KEY, token);
    $("login-error").textContent = "";
    unlock();
  });
  $("filters").addEventListener("click", (e) => {
    const b = e.target.closest("button");
    if (!b) return;
    if (b.id === "lock") return lock("");
    if (b.id === "keys-button") return toggleKeys();
    filter = b.dataset.show;
    selected = null;
    for (const x of $("filters").querySelectorAll("button")) x.classList.toggle("active", x === b);
    load();
  });
  $("queue").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-action]");
    if (b) act(b.dataset.action, b.dataset.postId);
  });
  $("queue").addEventListener("click", (e) => {
    const li = e.target.closest(".item");
    if (li && !e.target.closest("button")) {
      selected = Number(li.dataset.postId);
      render(true);
    }
  });
  document.addEventListener("keydown", onKey);
  document.addEventListener("mousedown", () => {
    byKey = false;
  });
  if (token) unlock();
})();
