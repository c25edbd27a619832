// Audio worklets of the beluga-voice page: "capture" (microphone level, speech activity and,
// for the WebSocket transport, PCM16 at the server's rate) and "player" (bot audio: plays
// what the WebSocket sends, or taps the WebRTC stream, and reports what was played).
"use strict";

// Windowed-sinc resampler with a tabulated Blackman-windowed kernel: a proper low-pass at
// the lower of the two rates (no aliasing when going down, no images when going up).
class Resampler {
  constructor(inRate, outRate, zeros = 16) {
    this.inRate = inRate;
    this.outRate = outRate;
    this.step = inRate / outRate;  // input samples per output sample
    const scale = Math.min(1, outRate / inRate);
    this.fc = 0.94 * scale;  // cutoff, as a fraction of the input Nyquist rate
    this.width = zeros / scale;  // kernel half-width in input samples
    this.res = 128;  // table points per input sample
    const n = Math.ceil(this.width * this.res) + 2;
    this.table = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const d = i / this.res, u = d / this.width;
      if (u >= 1) break;
      const x = Math.PI * this.fc * d;
      const sinc = d === 0 ? 1 : Math.sin(x) / x;
      const w = 0.42 + 0.5 * Math.cos(Math.PI * u) + 0.08 * Math.cos(2 * Math.PI * u);
      this.table[i] = this.fc * sinc * w;
    }
    this.reset();
  }

  reset() {
    const pad = Math.ceil(this.width) + 1;
    this.buf = new Float32Array(pad);  // zeros before the first sample
    this.len = pad;
    this.t = pad;  // position of the next output sample, in buffer samples
  }

  process(input) {
    if (this.inRate === this.outRate) return input;
    if (this.len + input.length > this.buf.length) {
      const grown = new Float32Array(Math.max(2 * this.buf.length, this.len + input.length));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(input, this.len);
    this.len += input.length;
    const out = [], buf = this.buf, table = this.table, res = this.res, w = this.width;
    while (this.t + w + 1 < this.len) {
      const t = this.t, lo = Math.ceil(t - w), hi = Math.floor(t + w);
      let acc = 0;
      for (let i = lo; i <= hi; i++) {
        const p = Math.abs(t - i) * res, k = p | 0, f = p - k;
        acc += buf[i] * (table[k] + f * (table[k + 1] - table[k]));
      }
      out.push(acc);
      this.t += this.step;
    }
    const keep = Math.floor(this.t - w) - 1;  // samples still needed by the kernel
    if (keep > 0) {
      this.buf.copyWithin(0, keep, this.len);
      this.len -= keep;
      this.t -= keep;
    }
    return Float32Array.from(out);
  }
}

const VOICE_RMS = 0.01;  // a block this loud counts as someone speaking
const LOUD = 0.003;      // a played sample this loud counts as sound, not silence

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.targetRate = 0;  // 0: level only (WebRTC sends the microphone itself)
    this.resampler = null;
    this.frame = null;
    this.fill = 0;
    this.reportAt = 0;
    this.peak = 0;
    this.lastVoice = -1;
    this.port.onmessage = (e) => {
      if (e.data.type === "rate") this.setRate(e.data.rate);
    };
  }

  setRate(rate) {
    this.targetRate = rate;
    this.resampler = rate ? new Resampler(sampleRate, rate) : null;
    this.frameSize = Math.round(rate / 50);  // 20 ms frames
    this.frame = rate ? new Int16Array(this.frameSize) : null;
    this.fill = 0;
  }

  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true;
    let sum = 0;
    for (let i = 0; i < ch.length; i++) sum += ch[i] * ch[i];
    const rms = Math.sqrt(sum / ch.length);
    this.peak = Math.max(this.peak, rms);
    if (rms > VOICE_RMS) this.lastVoice = currentTime + ch.length / sampleRate;
    if (this.resampler) {
      const out = this.resampler.process(ch);
      for (let i = 0; i < out.length; i++) {
        const v = Math.max(-1, Math.min(1, out[i]));
        this.frame[this.fill++] = v < 0 ? v * 32768 : v * 32767;
        if (this.fill === this.frameSize) {
          this.port.postMessage({type: "audio", pcm: this.frame.buffer}, [this.frame.buffer]);
          this.frame = new Int16Array(this.frameSize);  // the old one went with the message
          this.fill = 0;
        }
      }
    }
    if (currentTime >= this.reportAt) {
      this.port.postMessage({type: "level", rms: this.peak, lastVoice: this.lastVoice});
      this.peak = 0;
      this.reportAt = currentTime + 0.05;
    }
    return true;
  }
}

class PlayerProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ring = new Float32Array(sampleRate * 30);  // 30 s: the server paces well below
    this.read = 0;
    this.write = 0;
    this.resampler = null;
    this.loud = 0;          // loud samples played so far
    this.lastLoud = -1;     // context time of the last loud sample played
    this.quietSince = 0;    // context time since when nothing loud played
    this.reportAt = 0;
    this.gated = false;     // tap muted after an interruption (see "clear")
    this.quietRun = 0;
    this.gateUntil = 0;
    this.port.onmessage = (e) => this.onMessage(e.data);
  }

  onMessage(msg) {
    if (msg.type === "audio") {
      if (!this.resampler || this.resampler.inRate !== msg.rate) {
        this.resampler = new Resampler(msg.rate, sampleRate);
      }
      const pcm = new Int16Array(msg.pcm), f = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) f[i] = pcm[i] / 32768;
      const out = this.resampler.process(f), n = this.ring.length;
      for (let i = 0; i < out.length; i++) {
        if (this.write - this.read >= n) break;  // full: cannot happen at real-time pace
        this.ring[this.write++ % n] = out[i];
      }
    } else if (msg.type === "clear") {
      // An interruption.  Buffered audio is dropped; a WebRTC stream still carries what
      // was in flight (the jitter buffer, tens of ms) before the server's silence: mute
      // the tap until 150 ms of quiet show the cut reply is over (at most 1 s).
      this.read = this.write;
      this.gated = true;
      this.quietRun = 0;
      this.gateUntil = currentTime + 1;
      if (this.resampler) this.resampler.reset();
      this.port.postMessage({type: "cleared", time: currentTime});
    }
  }

  process(inputs, outputs) {
    const out = outputs[0][0], input = inputs[0] && inputs[0][0];
    if (input && this.gated) {
      let peak = 0;
      for (let i = 0; i < input.length; i++) peak = Math.max(peak, Math.abs(input[i]));
      this.quietRun = peak < LOUD ? this.quietRun + input.length : 0;
      if (this.quietRun >= 0.15 * sampleRate || currentTime > this.gateUntil) this.gated = false;
      out.fill(0);
    } else if (input) {
      out.set(input);  // tap: WebRTC audio passes through
    } else {
      const n = this.ring.length;
      for (let i = 0; i < out.length; i++) {
        out[i] = this.read < this.write ? this.ring[this.read++ % n] : 0;
      }
    }
    for (let i = 0; i < out.length; i++) {
      if (Math.abs(out[i]) > LOUD) {
        const t = currentTime + i / sampleRate;
        if (this.lastLoud < 0 || t - this.lastLoud > 0.4) {
          this.port.postMessage({type: "onset", time: t});
        }
        this.lastLoud = t;
        this.loud++;
      }
    }
    if (currentTime >= this.reportAt) {
      this.port.postMessage({type: "played", loud: this.loud, lastLoud: this.lastLoud,
                             buffered: (this.write - this.read) / sampleRate});
      this.reportAt = currentTime + 0.05;
    }
    return true;
  }
}

registerProcessor("capture", CaptureProcessor);
registerProcessor("player", PlayerProcessor);
