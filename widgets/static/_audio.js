// What the audio panels' ES modules share (Transcribe, AudioClassifier): an <audio> element fed from the
// synced `wav` bytes, and a microphone recorder whose bytes go to the kernel as a custom message
// ({kind: "recorded", mime}, [bytes]). Panels `import { ... } from "./_audio.js"`; the kernel side inlines
// this file there, since anywidget loads a module from a blob: URL.

// Point `audio` at the model's `wav` bytes (again after each change); returns a cleanup function.
export function wavSource(model, audio) {
  let url = null;
  const load = () => {
    const buf = model.get("wav");
    if (url) URL.revokeObjectURL(url);
    url = null;
    if (buf && buf.byteLength) {
      url = URL.createObjectURL(new Blob([buf], { type: "audio/wav" }));
      audio.src = url;
    } else audio.removeAttribute("src");
  };
  load();
  return { reload: load, cleanup: () => { if (url) URL.revokeObjectURL(url); } };
}

// A Record/Stop button: MediaRecorder where the page is a secure context and the browser grants the
// microphone; the recording goes to the kernel, and `note` says what happens (`afterwards`: "transcribing…").
export function attachRecorder(model, button, note, afterwards, unavailable) {
  const canRecord = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder);
  let recorder = null;
  button.textContent = "● Record";
  if (!canRecord) {
    button.disabled = true;
    note.textContent = unavailable;
  }
  button.onclick = async () => {
    if (recorder && recorder.state === "recording") { recorder.stop(); return; }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.ondataavailable = (e) => chunks.push(e.data);
      recorder.onstop = async () => {
        stream.getTracks().forEach((tr) => tr.stop());
        const bytes = new Uint8Array(await new Blob(chunks, { type: recorder.mimeType }).arrayBuffer());
        // send(content, callbacks, buffers): buffers are the THIRD argument (as the second they were dropped)
        model.send({ kind: "recorded", mime: recorder.mimeType }, undefined, [bytes.buffer]);
        button.textContent = "● Record";
        note.textContent = ` recorded; ${afterwards}`;
      };
      recorder.start();
      button.textContent = "■ Stop";
      note.textContent = " recording…";
    } catch (err) {
      note.textContent = ` microphone unavailable: ${err.name || err}`;
    }
  };
}
