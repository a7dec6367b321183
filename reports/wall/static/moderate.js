// Moderation page. The token lives only in this tab (sessionStorage) and is
// sent as a Bearer header, which other sites cannot make a browser send:
// that, plus POST-only actions, is the CSRF defence. Post text is rendered
// through textContent only.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = "tagwatch-moderation-token";
  let token = sessionStorage.getItem(KEY) || "";
  let filter = "pending";
  let timer = null;

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

  function item(p) {
    const li = el("li", "item state-" + p.state + (p.on_wall ? " on-wall" : ""));
    li.dataset.postId = String(p.id);
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
    if (p.media_count) flags.append(el("span", "flag", p.media_count + " media (not shown)"));
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
    li.append(head, text, flags, actions);
    return li;
  }

  async function load() {
    if (!token) return;
    try {
      const data = await api("/api/moderation/posts?show=" + encodeURIComponent(filter));
      $("queue").replaceChildren(...data.posts.map(item));
      if (!data.posts.length) $("queue").replaceChildren(el("li", "none", "Nothing here."));
      const logData = await api("/api/moderation/log");
      $("log").replaceChildren(
        ...logData.log.map((e) =>
          el("li", null, e.at + "  " + e.action + "  post " + (e.post_id ?? "-") + "  " + (e.detail || "")),
        ),
      );
    } catch (err) {
      say(String(err.message || err));
    }
  }

  async function act(action, id) {
    if (action === "block" && !confirm("Block this author? All their posts leave the wall.")) return;
    try {
      await api("/api/moderation/action", {
        method: "POST",
        body: JSON.stringify({ action, post_id: Number(id) }),
      });
      say(action + " done for post " + id);
    } catch (err) {
      say(String(err.message || err));
    }
    load();
  }

  function unlock() {
    $("login").hidden = true;
    $("filters").hidden = false;
    load();
    if (timer === null) timer = setInterval(load, 3000);
  }

  function lock(reason) {
    token = "";
    sessionStorage.removeItem(KEY);
    $("login").hidden = false;
    $("filters").hidden = true;
    $("queue").replaceChildren();
    $("log").replaceChildren();
    $("login-error").textContent = reason || "";
    if (timer !== null) clearInterval(timer);
    timer = null;
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
    filter = b.dataset.show;
    for (const x of $("filters").querySelectorAll("button")) x.classList.toggle("active", x === b);
    load();
  });
  $("queue").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-action]");
    if (b) act(b.dataset.action, b.dataset.postId);
  });
  if (token) unlock();
})();
