import { attachRecorder, wavSource } from "./_audio.js";

// Transcript player: an <audio> element fed from the synced WAV bytes, clickable segments and
// words that seek and play, the word under the playhead highlighted, and (where the browser
// allows it) a microphone recorder whose bytes go back to Python. No network, no CDN.
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "wb-transcribe";
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.className = "wb-transcribe-audio";
  const rec = document.createElement("button");
  rec.className = "wb-transcribe-record";
  const recNote = document.createElement("span");
  recNote.className = "wb-transcribe-record-note";
  const bar = document.createElement("div");
  bar.className = "wb-transcribe-bar";
  bar.append(audio, rec, recNote);
  const text = document.createElement("div");
  text.className = "wb-transcribe-text";
  root.append(bar, text);
  el.appendChild(root);

  const source = wavSource(model, audio);

  const playFrom = (t) => {
    audio.currentTime = t;
    model.set("position", t);
    model.save_changes();
    const p = audio.play();
    if (p && p.catch) p.catch(() => {}); // autoplay policy: the seek still happened
  };

  const draw = () => {
    text.innerHTML = "";
    const segments = model.get("segments") || [];
    for (const seg of segments) {
      const line = document.createElement("div");
      line.className = "wb-seg";
      const stamp = document.createElement("span");
      stamp.className = "wb-seg-time";
      stamp.dataset.start = seg.start;
      stamp.textContent = `[${seg.start.toFixed(2)}–${seg.end.toFixed(2)}] `;
      stamp.onclick = () => playFrom(seg.start);
      line.appendChild(stamp);
      if (seg.words && seg.words.length) {
        for (const w of seg.words) {
          const span = document.createElement("span");
          span.className = "wb-word";
          span.dataset.start = w.start;
          span.dataset.end = w.end;
          span.textContent = w.text;
          span.onclick = () => playFrom(w.start);
          line.appendChild(span);
        }
      } else {
        const span = document.createElement("span");
        span.className = "wb-seg-text";
        span.textContent = seg.text;
        span.onclick = () => playFrom(seg.start);
        line.appendChild(span);
      }
      text.appendChild(line);
    }
  };

  const highlight = () => {
    const t = audio.currentTime;
    for (const w of text.querySelectorAll(".wb-word")) {
      const on = t >= parseFloat(w.dataset.start) && t < parseFloat(w.dataset.end);
      w.classList.toggle("wb-active", on);
    }
  };
  audio.addEventListener("timeupdate", highlight);
  audio.addEventListener("seeked", highlight);

  attachRecorder(model, rec, recNote, "transcribing…",
                 " microphone recording is not available in this browser (needs https or localhost); upload a file instead");

  model.on("change:wav", source.reload);
  model.on("change:segments", draw);
  model.on("change:seek_request", () => playFrom(model.get("seek_request")));
  draw();
  return () => source.cleanup();
}
export default { render };
