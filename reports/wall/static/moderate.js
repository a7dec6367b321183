// Moderation page. The token lives only in this tab (sessionStorage) and is
// sent as a Bearer header, which other sites cannot make a browser send:
// that, plus POST-only actions, is the CSRF defence. Post text is rendered
// through textContent only. The alerts panel (#22) polls its own route
// every 15 s: alerts change over minutes, the queue over seconds.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = "tagwatch-moderation-token";
  let token = sessionStorage.getItem(KEY) || "";
  let filter = "pending";
  let timer = null;
  let alertTimer = null;
  const ALERTS_EVERY_MS = 15000;

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
    $("alerts").hidden = false;
    load();
    loadAlerts();
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
