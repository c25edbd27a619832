// The beluga-voice browser client: WebRTC (default) or the WebSocket protocol, audio in
// AudioWorklets (worklets.js), live transcripts, speaking state and reply latency.
"use strict";

const $ = (id) => document.getElementById(id);
const offered = (document.querySelector('meta[name="beluga-transports"]').content || "websocket")
  .split(/\s+/).filter((t) => t === "webrtc" || t === "websocket");

// What the tests (and the curious) can read: window.beluga.stats.
const stats = {loud: 0, lastLoud: -1, onsets: [], latencies: [], cleared: [], events: [],
               connects: 0, lastVoice: -1, level: 0};
let session = null;      // the live connection, see connect()
let wanted = false;      // the user wants to be connected (reconnect when it drops)
let retries = 0;
let audio = null;        // {ctx, mic, capture, player}
let lastTurnVoice = -1;  // speech end that the last measured reply answered
const interim = {user: null, assistant: null};

// -- user interface ----------------------------------------------------------------------

for (const label of document.querySelectorAll("#transport-choice label")) {
  const input = label.querySelector("input");
  if (!offered.includes(input.value)) label.classList.add("hidden");
  input.checked = input.value === offered[0];
}

function chosenTransport() {
  const checked = document.querySelector('input[name="transport"]:checked');
  return checked ? checked.value : offered[0];
}

function setStatus(text, kind) {
  $("status").textContent = text;
  $("status").className = "status " + kind;
}

function setLive(on) {
  $("start").disabled = on;
  $("stop").disabled = !on;
  for (const id of ["text", "send", "interrupt"]) $(id).disabled = !on;
  for (const input of document.querySelectorAll('input[name="transport"]')) input.disabled = on;
}

function addLine(kind, text) {
  const li = document.createElement("li");
  li.className = kind;
  li.textContent = text;
  $("transcript").appendChild(li);
  $("transcript").scrollTop = $("transcript").scrollHeight;
  return li;
}

function showTranscript(role, text, final) {
  const kind = role === "user" ? "user" : "assistant";
  let li = interim[kind];
  if (!li) li = interim[kind] = addLine(kind + " interim", "");
  li.textContent = text;
  if (final) {
    li.className = kind;
    interim[kind] = null;
  }
}

function showLatency(ms) {
  stats.latencies.push(ms);
  const avg = stats.latencies.reduce((a, b) => a + b, 0) / stats.latencies.length;
  $("latency").textContent = Math.round(ms) + " ms";
  $("latency-avg").textContent = Math.round(avg) + " ms";
  addLine("note", "reply after " + Math.round(ms) + " ms");
}

$("controls").onsubmit = (e) => { e.preventDefault(); wanted = true; retries = 0; connect(); };
$("stop").onclick = () => { wanted = false; hangUp("hung up"); };
$("say").onsubmit = (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!text || !session) return;
  session.send({type: "text", text});
  addLine("user", text);
  $("text").value = "";
};
$("interrupt").onclick = () => interrupt();

function interrupt() {
  if (!session || !audio) return null;
  const at = audio.ctx.currentTime;
  session.send({type: "interrupt"});
  return at;
}

// -- audio ---------------------------------------------------------------------------------

async function startAudio() {
  if (audio) return audio;
  const ctx = new AudioContext({latencyHint: "interactive"});
  await ctx.audioWorklet.addModule("/static/worklets.js");
  // Echo cancellation and noise suppression on (the bot must not hear itself); automatic
  // gain off: it moves the level within an utterance and clips loud voices, which costs
  // the recogniser words (measured: "what is two plus two" heard as "what is two").
  const stream = await navigator.mediaDevices.getUserMedia({audio: {
    echoCancellation: true, noiseSuppression: true, autoGainControl: false, channelCount: 1}});
  const capture = new AudioWorkletNode(ctx, "capture");
  const sink = ctx.createGain();
  sink.gain.value = 0;  // the capture node must be pulled; its output is not heard
  ctx.createMediaStreamSource(stream).connect(capture).connect(sink).connect(ctx.destination);
  const player = new AudioWorkletNode(ctx, "player", {outputChannelCount: [1]});
  player.connect(ctx.destination);
  capture.port.onmessage = (e) => onCapture(e.data);
  player.port.onmessage = (e) => onPlayer(e.data);
  audio = {ctx, stream, capture, player, remote: null};
  await ctx.resume();
  return audio;
}

function onCapture(msg) {
  if (msg.type === "audio") {
    if (session && session.sendAudio) session.sendAudio(msg.pcm);
  } else if (msg.type === "level") {
    stats.level = msg.rms;
    stats.lastVoice = msg.lastVoice;
    const db = msg.rms > 0 ? 20 * Math.log10(msg.rms) : -100;
    $("level").style.width = Math.max(0, Math.min(100, (db + 60) * 100 / 60)) + "%";
  }
}

function onPlayer(msg) {
  if (msg.type === "played") {
    stats.loud = msg.loud;
    stats.lastLoud = msg.lastLoud;
  } else if (msg.type === "onset") {
    stats.onsets.push(msg.time);
    // Mouth to ear: from the end of the user's speech to the first sound of the reply.
    if (stats.lastVoice > lastTurnVoice && stats.lastVoice < msg.time) {
      lastTurnVoice = stats.lastVoice;
      showLatency(1000 * (msg.time - stats.lastVoice));
    }
  } else if (msg.type === "cleared") {
    stats.cleared.push(msg.time);
  }
}

// -- events (the WebSocket protocol's, on either transport) ---------------------------------

function onEvent(e) {
  stats.events.push(e);
  switch (e.type) {
    case "session.started":
      retries = 0;
      stats.connects++;
      setStatus("Connected · " + (session.kind === "webrtc" ? "WebRTC" : "WebSocket"), "live");
      $("transport-used").textContent = session.kind === "webrtc" ? "WebRTC (Opus)" : "WebSocket (PCM)";
      if (session.started) session.started(e);
      break;
    case "transcript": showTranscript(e.role, e.text, e.final); break;
    case "user.started_speaking": $("you").classList.add("on"); break;
    case "user.stopped_speaking": $("you").classList.remove("on"); break;
    case "bot.started_speaking": $("bot").classList.add("on"); break;
    case "bot.stopped_speaking": $("bot").classList.remove("on"); break;
    case "interrupted":
      $("bot").classList.remove("on");
      audio.player.port.postMessage({type: "clear"});  // drop what was not played yet
      break;
    case "error":
      addLine("error", e.code + ": " + e.message);
      if (e.fatal) wanted = wanted && e.code !== "invalid_offer";
      break;
    case "session.ended": setStatus("Session ended", "idle"); break;
  }
}

// -- connections -----------------------------------------------------------------------------

function socketUrl(path) {
  const token = $("token").value;
  const query = token ? "?access_token=" + encodeURIComponent(token) : "";
  return location.origin.replace(/^http/, "ws") + path + query;
}

async function connect() {
  setLive(true);
  setStatus("Connecting…", "busy");
  try {
    await startAudio();
  } catch (err) {
    addLine("error", "microphone: " + err.message);
    wanted = false;
    hangUp("no microphone");
    return;
  }
  session = chosenTransport() === "webrtc" ? webrtcSession() : websocketSession();
}

function websocketSession() {
  const ws = new WebSocket(socketUrl("/"));
  ws.binaryType = "arraybuffer";
  const s = {kind: "websocket", ws, outRate: 24000};
  s.send = (event) => { if (ws.readyState === 1) ws.send(JSON.stringify(event)); };
  s.sendAudio = (pcm) => { if (ws.readyState === 1 && s.live) ws.send(pcm); };
  s.started = (e) => {
    s.live = true;
    s.outRate = e.audio.output.sample_rate;
    audio.capture.port.postMessage({type: "rate", rate: e.audio.input.sample_rate});
  };
  s.close = () => {
    audio.capture.port.postMessage({type: "rate", rate: 0});
    audio.player.port.postMessage({type: "clear"});
    ws.onclose = null;
    if (ws.readyState <= 1) ws.close(1000);
  };
  ws.onmessage = (m) => {
    if (typeof m.data === "string") onEvent(JSON.parse(m.data));
    else audio.player.port.postMessage({type: "audio", pcm: m.data, rate: s.outRate}, [m.data]);
  };
  ws.onclose = (e) => dropped(s, "closed (" + e.code + (e.reason ? " " + e.reason : "") + ")");
  return s;
}

function webrtcSession() {
  const ws = new WebSocket(socketUrl("/webrtc"));
  const s = {kind: "webrtc", ws, pc: null, channel: null};
  s.send = (event) => {
    if (s.channel && s.channel.readyState === "open") s.channel.send(JSON.stringify(event));
  };
  s.close = () => {
    ws.onclose = null;
    if (s.pc) s.pc.close();
    if (ws.readyState <= 1) ws.close(1000);
    if (audio.remote) { audio.remote.disconnect(); audio.remote = null; }
  };
  ws.onmessage = async (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "webrtc.config") {
      await offer(s, msg.ice_servers || []);
    } else if (msg.type === "webrtc.answer") {
      await s.pc.setRemoteDescription({type: "answer", sdp: msg.sdp});
    } else {
      onEvent(msg);  // an error while negotiating
    }
  };
  ws.onclose = (e) => dropped(s, "closed (" + e.code + (e.reason ? " " + e.reason : "") + ")");
  return s;
}

async function offer(s, iceServers) {
  const pc = s.pc = new RTCPeerConnection({iceServers});
  s.channel = pc.createDataChannel("events");
  s.channel.onmessage = (m) => onEvent(JSON.parse(m.data));
  for (const track of audio.stream.getAudioTracks()) pc.addTrack(track, audio.stream);
  pc.ontrack = (e) => {
    // Chrome delivers remote WebRTC audio to Web Audio only while a media element holds
    // the stream; the element is muted, the player worklet plays it (and measures it).
    const stream = e.streams[0] || new MediaStream([e.track]);
    $("remote").srcObject = stream;
    audio.remote = audio.ctx.createMediaStreamSource(stream);
    audio.remote.connect(audio.player);
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "failed") dropped(s, "connection failed");
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {  // one offer with every candidate (no trickle ICE)
    if (pc.iceGatheringState === "complete") return resolve();
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000);  // a STUN server that does not answer must not hang us
  });
  s.ws.send(JSON.stringify({type: "webrtc.offer", sdp: pc.localDescription.sdp}));
}

function dropped(s, why) {
  if (s !== session) return;
  hangUp(why);
  if (!wanted) return;
  if (retries >= 5) {
    wanted = false;
    setStatus("Disconnected", "bad");
    return;
  }
  const delay = Math.min(8000, 500 * 2 ** retries++);
  setStatus("Reconnecting in " + (delay / 1000).toFixed(1) + " s…", "busy");
  setTimeout(() => { if (wanted && !session) connect(); }, delay);
}

function hangUp(why) {
  if (session) {
    session.send({type: "end"});
    session.close();
    session = null;
    addLine("note", why);
  }
  for (const id of ["you", "bot"]) $(id).classList.remove("on");
  setLive(false);
  if (!wanted) setStatus("Not connected", "idle");
}

window.beluga = {stats, interrupt, connect: () => $("start").click(), hangUp: () => $("stop").click(),
                 get session() { return session; }, get context() { return audio && audio.ctx; }};
