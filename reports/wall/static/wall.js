// The live wall. Post data reaches the page only through textContent and
// dataset: never innerHTML, so a post cannot inject markup. Updates arrive by
// server-sent events; EventSource reconnects by itself and sends Last-Event-ID,
// so the server replays exactly what was missed. If event streams are not
// possible at all, the page falls back to polling /api/wall.
"use strict";
(() => {
  const body = document.body;
  const ROTATE_MS = Math.max(3, Number(body.dataset.rotate) || 8) * 1000;
  const MAX = Math.max(4, Number(body.dataset.max) || 30);
  const HIGHLIGHTS = body.dataset.highlights === "1";
  // [wall] layout: "grid" shows every post as a card (no featured one), "ticker" only
  // the featured post; the CSS hides what a layout does not show.
  const LAYOUT = body.dataset.layout || "featured";
  const SIDE = LAYOUT === "grid" ? 8 : LAYOUT === "ticker" ? 0 : 4;

  const posts = new Map(); // id -> post, in arrival order
  const fresh = []; // ids that arrived since load: featured next
  let featuredId = null;
  let rotation = -1; // the first pick is the newest post
  let lastRotate = 0;
  let seq = null;
  let skew = 0; // server clock minus this browser's clock, in ms
  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function syncClock(now) {
    const t = Date.parse(now);
    if (!Number.isNaN(t)) skew = t - Date.now();
  }

  function ago(iso) {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return "";
    const s = Math.max(0, Math.round((Date.now() + skew - t) / 1000));
    if (s < 45) return "just now";
    const m = Math.round(s / 60);
    if (m < 60) return m + " min ago";
    const h = Math.round(m / 60);
    if (h < 24) return h + " h ago";
    const d = Math.round(h / 24);
    return d + (d === 1 ? " day ago" : " days ago");
  }

  // Pictures come from the wall's own image proxy (/wall/media/..., /wall/avatar/...): the
  // CSP allows no other source. One that fails never breaks the layout: the picture goes,
  // the avatar becomes the author's initial, and it is not asked for again for a while
  // (the proxy may have failed only for now: a later rendering of the post tries again).
  const RETRY_BROKEN_MS = 120000;
  const failedAt = new Map(); // src -> when it failed
  const broken = {
    has: (src) => failedAt.has(src) && Date.now() - failedAt.get(src) < RETRY_BROKEN_MS,
    add: (src) => failedAt.set(src, Date.now()),
  };

  function refit(node) {
    const post = node && node.closest(".post");
    if (post && post.isConnected) fitLines(post);
  }

  function picture(p) {
    const first = (p.media || []).find((m) => !broken.has(m.src));
    if (!first) return null;
    const still = first.kind === "image";
    const fig = el("figure", "pic" + (still ? "" : " " + first.kind) + (p.blur ? " blur" : ""));
    const img = el("img");
    img.alt = first.alt || "";
    img.decoding = "async";
    img.onerror = () => {
      broken.add(first.src);
      const post = fig.closest(".post");
      fig.remove();
      if (post) {
        post.classList.remove("has-pic");
        refit(post);
      }
    };
    img.src = first.src;
    fig.append(img);
    if (first.kind === "video") fig.append(el("span", "play", "▶"));
    if (first.kind === "gif") fig.append(el("span", "play gif", "GIF"));
    const more = (p.media_count || 0) - 1;
    if (more > 0) fig.append(el("span", "more", "+" + more));
    const alt = el("figcaption", first.alt ? "alt" : "alt none", first.alt || "no description");
    alt.dir = "auto";
    fig.append(alt);
    return fig;
  }

  function avatar(p) {
    const who = (p.name || p.handle || "?").trim();
    const initial = el("span", "avatar initial", (Array.from(who)[0] || "?").toUpperCase());
    initial.setAttribute("aria-hidden", "true");
    if (!p.avatar || broken.has(p.avatar)) return initial;
    const img = el("img", "avatar");
    img.alt = "";
    img.onerror = () => {
      broken.add(p.avatar);
      img.replaceWith(initial);
    };
    img.src = p.avatar;
    return img;
  }

  function meta(p) {
    const m = el("div", "meta");
    if (p.pinned) m.append(el("span", "pin-mark", "Pinned"));
    m.append(avatar(p));
    const name = el("span", "name", p.name || p.handle);
    name.dir = "auto";
    const handle = el("span", "handle", "@" + p.handle);
    handle.dir = "ltr";
    const when = el("span", "time", ago(p.created_at));
    when.dataset.time = p.created_at;
    m.append(name, handle, el("span", "platform", p.platform), when);
    return m;
  }

  function postNode(p, tag) {
    const node = el(tag, "post");
    node.dataset.postId = String(p.id);
    const text = el("p", "text", p.text);
    text.dir = "auto";
    if (p.lang) text.lang = p.lang;
    const fig = picture(p);
    if (fig) {
      node.classList.add("has-pic");
      node.append(fig);
    }
    node.append(text, meta(p));
    return node;
  }

  function evict() {
    let unpinned = 0;
    for (const p of posts.values()) if (!p.pinned) unpinned += 1;
    for (const [id, p] of posts) {
      if (unpinned <= MAX) break;
      if (p.pinned || id === featuredId) continue;
      posts.delete(id);
      unpinned -= 1;
    }
  }

  function show(p, isNew) {
    const known = posts.has(p.id);
    posts.set(p.id, p);
    if (!known && isNew) {
      fresh.push(p.id);
      // Hundreds of posts a second must not queue for the featured spot for ever: only
      // the newest of them can be featured before they are old news.
      if (fresh.length > MAX) fresh.splice(0, fresh.length - MAX);
    }
  }

  function remove(id) {
    posts.delete(id);
    const i = fresh.indexOf(id);
    if (i >= 0) fresh.splice(i, 1);
    if (featuredId === id) featuredId = null;
  }

  function nextFeatured() {
    while (fresh.length) {
      const id = fresh.shift();
      if (posts.has(id)) return id;
    }
    const ids = [...posts.keys()];
    if (!ids.length) return null;
    rotation = (rotation + 1) % ids.length;
    return ids[ids.length - 1 - rotation];
  }

  let fadeTimer = null; // the cross-fade in progress, if any
  function renderFeatured(animate) {
    const box = $("featured");
    const empty = $("empty");
    // An update during a cross-fade must not leave two featured posts on screen:
    // end the fade at once and keep only the newest node.
    if (fadeTimer !== null) {
      clearTimeout(fadeTimer);
      fadeTimer = null;
      const nodes = box.querySelectorAll(".post");
      for (let i = 0; i < nodes.length - 1; i++) nodes[i].remove();
    }
    const current = box.querySelector(".post");
    if (featuredId === null || !posts.has(featuredId)) {
      if (current) current.remove();
      empty.hidden = posts.size > 0;
      return;
    }
    empty.hidden = true;
    const node = postNode(posts.get(featuredId), "article");
    if (current && animate) {
      current.classList.add("fading");
      node.classList.add("fading");
      box.append(node); // invisible (fading) until the old one has gone
      node.hidden = true;
      fadeTimer = setTimeout(() => {
        fadeTimer = null;
        current.remove();
        node.hidden = false;
        fitLines(node);
        requestAnimationFrame(() => node.classList.remove("fading"));
      }, 600);
      return;
    }
    if (current) current.remove();
    box.append(node);
  }

  const sideNodes = new Map(); // id -> li, reused so cards do not re-animate
  function renderSide() {
    const ids = [...posts.keys()]
      .filter((id) => LAYOUT === "grid" || id !== featuredId)
      .reverse()
      .slice(0, SIDE);
    const items = ids.map((id) => {
      const p = posts.get(id);
      const key = JSON.stringify(p);
      let node = sideNodes.get(id);
      if (!node || node.dataset.key !== key) {
        node = postNode(p, "li");
        node.dataset.key = key;
        sideNodes.set(id, node);
      }
      return node;
    });
    for (const id of [...sideNodes.keys()]) if (!ids.includes(id)) sideNodes.delete(id);
    $("recent").replaceChildren(...items);
  }

  // As many whole lines as the post's box holds, under its usual maximum: with a large
  // [wall] font_scale a fixed clamp would cut a line in half. (CSSOM writes are allowed
  // by the CSP; only style attributes in markup are not.)
  function fitLines(node) {
    const text = node.querySelector(".text");
    const box = node.closest("li, .featured");
    const meta = node.querySelector(".meta");
    if (!text || !box || !meta || !box.clientHeight) return;
    text.style.webkitLineClamp = "";
    text.style.lineClamp = "";
    const max = parseInt(getComputedStyle(text).webkitLineClamp, 10) || 8; // the layout's own
    const bs = getComputedStyle(box);
    let avail = box.clientHeight - parseFloat(bs.paddingTop) - parseFloat(bs.paddingBottom);
    avail -= meta.offsetHeight + parseFloat(getComputedStyle(meta).marginTop);
    const lh = parseFloat(getComputedStyle(text).lineHeight);
    // A picture stacked above the text (featured, grid) takes its height from the text's;
    // one beside it (the side cards, the ticker) does not. With a large font_scale the
    // picture gives way: smaller, so that two lines of text still fit, or none at all.
    const fig = node.querySelector(".pic");
    if (fig) {
      fig.classList.remove("no-room");
      fig.style.height = "";
      fig.style.flexBasis = "";
    }
    if (fig && fig.getBoundingClientRect().bottom <= text.getBoundingClientRect().top + 1) {
      const fs = getComputedStyle(fig);
      const margins = parseFloat(fs.marginTop) + parseFloat(fs.marginBottom);
      const need = Math.min(2, max) * lh;
      if (avail - fig.offsetHeight - margins >= need) {
        avail -= fig.offsetHeight + margins;
      } else if (avail - need - margins >= box.clientHeight * 0.15) {
        const room = avail - need - margins;
        fig.style.height = room + "px";
        fig.style.flexBasis = room + "px";
        avail = need;
      } else {
        fig.classList.add("no-room");
      }
    }
    const lines = Math.max(1, Math.min(max, Math.floor(avail / lh)));
    text.style.webkitLineClamp = String(lines);
    text.style.lineClamp = String(lines);
  }

  function fitAll() {
    for (const node of document.querySelectorAll(".stage .post")) fitLines(node);
  }
  // The stage changes size without a window resize too (the counters appear, the
  // session changes the bar's height): fit again whenever it does.
  new ResizeObserver(fitAll).observe(document.querySelector(".stage"));

  function render() {
    evict();
    if (featuredId === null || !posts.has(featuredId)) {
      featuredId = nextFeatured();
      lastRotate = Date.now();
      renderFeatured(false);
    } else {
      const node = $("featured").querySelector(".post");
      const p = posts.get(featuredId);
      if (node && node.dataset.key !== JSON.stringify(p)) renderFeatured(false);
    }
    const node = $("featured").querySelector(".post");
    if (node && featuredId !== null) node.dataset.key = JSON.stringify(posts.get(featuredId));
    renderSide();
    fitAll();
    body.dataset.seq = String(seq);
  }

  function rotate() {
    if (Date.now() - lastRotate < ROTATE_MS || posts.size < 2) return;
    lastRotate = Date.now();
    const next = nextFeatured();
    if (next === null || next === featuredId) return;
    featuredId = next;
    renderFeatured(true);
    renderSide();
  }

  function applyReset(msg) {
    const first = seq === null;
    const ids = new Set(msg.show.map((p) => p.id));
    for (const id of [...posts.keys()]) if (!ids.has(id)) remove(id);
    for (const p of msg.show) show(p, !first && !posts.has(p.id));
    seq = msg.seq;
    if (msg.now) syncClock(msg.now);
    render();
  }

  function applyUpdate(msg) {
    for (const id of msg.remove) remove(id);
    for (const p of msg.show) show(p, true);
    seq = msg.seq;
    if (msg.now) syncClock(msg.now);
    render();
  }

  function applyStats(s) {
    if (!s) return;
    if (s.now) syncClock(s.now);
    const session = s.session;
    $("session").hidden = !session;
    $("event-name").hidden = Boolean(session);
    if (session) {
      $("session-title").textContent = session.title;
      $("session-prompt").textContent = session.prompt;
    }
    if (!HIGHLIGHTS) return;
    $("counters").hidden = false;
    $("count-posts").textContent = String(s.posts);
    $("count-people").textContent = String(s.people);
    const top = s.top || [];
    $("strip").hidden = top.length === 0;
    $("top").replaceChildren(
      ...top.map((p) => {
        const li = el("li");
        li.dataset.postId = String(p.id);
        const who = el("span", "who", p.name || "@" + p.handle);
        who.dir = "auto";
        const text = el("span", "snippet", p.text);
        text.dir = "auto";
        li.append(who, text);
        return li;
      }),
    );
  }

  function refreshTimes() {
    for (const node of document.querySelectorAll("[data-time]")) {
      node.textContent = ago(node.dataset.time);
    }
  }

  // -- transport ---------------------------------------------------------------
  let pollTimer = null;
  function setStatus(trouble) {
    $("status").hidden = !trouble;
  }

  async function pollOnce() {
    try {
      const url = seq === null ? "/api/wall" : "/api/wall?since=" + seq;
      const r = await fetch(url, { cache: "no-store" });
      if (!r.ok) throw new Error(String(r.status));
      const msg = await r.json();
      if (msg.reset) applyReset(msg);
      else applyUpdate(msg);
      applyStats(msg.stats);
      setStatus(false);
    } catch (err) {
      setStatus(true);
    }
  }

  function startPolling() {
    if (pollTimer !== null) return;
    pollOnce();
    pollTimer = setInterval(pollOnce, 2000);
    // Try the event stream again later: polling is only the fallback.
    setTimeout(() => {
      clearInterval(pollTimer);
      pollTimer = null;
      connect();
    }, 60000);
  }

  function connect() {
    if (!("EventSource" in window)) {
      startPolling();
      return;
    }
    const url = seq === null ? "/api/wall/events" : "/api/wall/events?after=" + seq;
    const es = new EventSource(url);
    es.addEventListener("reset", (e) => applyReset(JSON.parse(e.data)));
    es.addEventListener("update", (e) => applyUpdate(JSON.parse(e.data)));
    es.addEventListener("stats", (e) => applyStats(JSON.parse(e.data)));
    es.onopen = () => setStatus(false);
    es.onerror = () => {
      setStatus(true);
      // CONNECTING: the browser retries by itself. CLOSED: the server refused; poll instead.
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        startPolling();
      }
    };
  }

  setInterval(rotate, 500);
  setInterval(refreshTimes, 15000);
  connect();
})();
