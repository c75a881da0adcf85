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

  let url = null;
  const loadAudio = () => {
    const buf = model.get("wav");
    if (url) URL.revokeObjectURL(url);
    url = null;
    if (buf && buf.byteLength) {
      url = URL.createObjectURL(new Blob([buf], { type: "audio/wav" }));
      audio.src = url;
    } else {
      audio.removeAttribute("src");
    }
  };

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

  // Microphone: MediaRecorder where the page is a secure context and the browser grants it.
  const canRecord = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder);
  let recorder = null;
  rec.textContent = "● Record";
  if (!canRecord) {
    rec.disabled = true;
    recNote.textContent = " microphone recording is not available in this browser (needs https or localhost); upload a file instead";
  }
  rec.onclick = async () => {
    if (recorder && recorder.state === "recording") {
      recorder.stop();
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.ondataavailable = (e) => chunks.push(e.data);
      recorder.onstop = async () => {
        stream.getTracks().forEach((tr) => tr.stop());
        const blob = new Blob(chunks, { type: recorder.mimeType });
        const bytes = new Uint8Array(await blob.arrayBuffer());
        model.send({ kind: "recorded", mime: recorder.mimeType }, [bytes.buffer]);
        rec.textContent = "● Record";
        recNote.textContent = " recorded; transcribing…";
      };
      recorder.start();
      rec.textContent = "■ Stop";
      recNote.textContent = " recording…";
    } catch (err) {
      recNote.textContent = ` microphone unavailable: ${err.name || err}`;
    }
  };

  model.on("change:wav", loadAudio);
  model.on("change:segments", draw);
  model.on("change:seek_request", () => playFrom(model.get("seek_request")));
  loadAudio();
  draw();
  return () => { if (url) URL.revokeObjectURL(url); };
}
export default { render };
