"""A minimal browser page for trying a server out: microphone in, bot audio out.

Served by :class:`~.server.WebSocketServer` at ``GET /client`` (no WebSocket upgrade) when
``ServerConfig.serve_client_page`` is on.  It speaks the default protocol: it waits for
``session.started``, sends the microphone as PCM16 at the announced input rate, plays the
bot's chunks back to back, and drops what it has not played on ``interrupted``.  The
resampling is nearest-sample (no filter): fine for trying things, not for a product.
Kept in a module rather than a data file so that it ships with the package as is.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CLIENT_PAGE"]

CLIENT_PAGE: Final = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>beluga-voice</title>
<style>
body { font: 15px system-ui, sans-serif; max-width: 42em; margin: 2em auto; }
#log { white-space: pre-wrap; border: 1px solid #ccc; padding: .5em; height: 22em;
       overflow: auto; }
</style>
<h1>beluga-voice</h1>
<p><input id="token" type="password" placeholder="token (if the server needs one)">
<button id="go">Start</button> <button id="stop" disabled>Stop</button></p>
<div id="log"></div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const log = (s) => { $("log").textContent += s + "\\n"; $("log").scrollTop = 1e9; };
let ws = null, ctx = null, stream = null, proc = null;
let inRate = 16000, outRate = 24000, playAt = 0, sources = [];

$("go").onclick = () => {
  const token = $("token").value;
  const query = token ? "?access_token=" + encodeURIComponent(token) : "";
  ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/" + query);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (m) => typeof m.data === "string" ? onEvent(JSON.parse(m.data)) : play(m.data);
  ws.onclose = (e) => { log("closed: " + e.code + " " + e.reason); stop(); };
  $("go").disabled = true; $("stop").disabled = false;
};
$("stop").onclick = () => { if (ws) ws.send(JSON.stringify({type: "end"})); };

function onEvent(e) {
  if (e.type === "session.started") {
    inRate = e.audio.input.sample_rate; outRate = e.audio.output.sample_rate;
    log("connected (" + e.session_id + ")"); startMic();
  } else if (e.type === "interrupted") {
    sources.forEach((s) => s.stop()); sources = []; playAt = 0;
  } else if (e.type === "transcript" && e.final) {
    log(e.role + ": " + e.text);
  } else if (e.type === "error") {
    log("error " + e.code + ": " + e.message);
  }
}

async function startMic() {
  ctx = new AudioContext();
  stream = await navigator.mediaDevices.getUserMedia(
    {audio: {echoCancellation: true, noiseSuppression: true}});
  const mic = ctx.createMediaStreamSource(stream);
  proc = ctx.createScriptProcessor(1024, 1, 1);
  proc.onaudioprocess = (ev) => {
    if (ws && ws.readyState === 1) {
      ws.send(toPcm16(ev.inputBuffer.getChannelData(0), ctx.sampleRate, inRate));
    }
  };
  mic.connect(proc); proc.connect(ctx.destination);  // its output is silence
}

function toPcm16(x, from, to) {
  const n = Math.floor(x.length * to / from), out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const v = x[Math.floor(i * from / to)];
    out[i] = Math.max(-1, Math.min(1, v)) * 32767;
  }
  return out.buffer;
}

function play(data) {
  if (!ctx) return;
  const pcm = new Int16Array(data), buf = ctx.createBuffer(1, pcm.length, outRate);
  const ch = buf.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
  const src = ctx.createBufferSource();
  src.buffer = buf; src.connect(ctx.destination);
  playAt = Math.max(playAt, ctx.currentTime + 0.04);
  src.start(playAt); playAt += buf.duration;
  sources.push(src);
  src.onended = () => { sources = sources.filter((s) => s !== src); };
}

function stop() {
  if (proc) proc.disconnect();
  if (stream) stream.getTracks().forEach((t) => t.stop());
  proc = null; stream = null; ws = null;
  $("go").disabled = false; $("stop").disabled = true;
}
</script>
</html>
"""
