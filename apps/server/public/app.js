// The PSIC page: plain ES module, no build step. Everything goes through the
// same HTTP API as any client (/v1/encode, /v1/decode, /v1/labels, /v1/models).

const $ = (sel) => document.querySelector(sel);
const state = { original: null, psic: null, psicName: 'image.psic', width: 0, height: 0, labels: false, urls: [] };

class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

async function api(path, body, headers = {}) {
  const res = await fetch(path, { method: body ? 'POST' : 'GET', body, headers: { 'content-type': 'application/octet-stream', ...headers } });
  if (!res.ok) {
    let code = `HTTP_${res.status}`;
    let message = res.statusText;
    try {
      const err = (await res.json()).error;
      code = err.code;
      message = err.message;
    } catch {}
    if (res.status === 503 && res.headers.get('retry-after')) message += ` (retry in ${res.headers.get('retry-after')} s)`;
    throw new ApiError(code, message);
  }
  return res;
}

function setStatus(text, isError = false) {
  const el = $('#status');
  el.textContent = text;
  el.classList.toggle('error', isError);
}

function objectUrl(blob) {
  const url = URL.createObjectURL(blob);
  state.urls.push(url);
  return url;
}

function resetUrls() {
  for (const url of state.urls) URL.revokeObjectURL(url);
  state.urls = [];
}

/** RGBA pixels of an image blob exactly as stored (no colour management), for PSNR. */
async function pixelsOf(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

/** PSNR in dB over the RGB channels (alpha ignored), images of the same size. */
function psnr(a, b) {
  if (a.width !== b.width || a.height !== b.height) return NaN;
  let sum = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    for (let c = 0; c < 3; c++) {
      const d = a.data[i + c] - b.data[i + c];
      sum += d * d;
    }
  }
  const mse = sum / ((a.data.length / 4) * 3);
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

function formatBytes(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} kB` : `${n} B`;
}

function panel(id) {
  const root = $(`#panel-${id}`);
  return { root, img: root.querySelector('img'), stats: root.querySelector('.stats'), labels: root.querySelector('.labels'), mode: root.querySelector('.mode') };
}

function showStats(p, rows) {
  p.stats.replaceChildren(
    ...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      dd.dataset.stat = k;
      return [dt, dd];
    }),
  );
}

function clearPanel(p) {
  p.img.removeAttribute('src');
  p.stats.replaceChildren();
  p.labels.replaceChildren();
  p.labels.hidden = true;
  p.mode.textContent = '';
  delete p.root.dataset.ready;
}

async function showLabels(p, blob) {
  if (!state.labels) return;
  try {
    const { labels } = await (await api('/v1/labels', blob)).json();
    p.labels.replaceChildren(
      ...labels.map(({ label, score }) => {
        const li = document.createElement('li');
        li.textContent = label;
        const s = document.createElement('span');
        s.textContent = `${(score * 100).toFixed(1)}%`;
        li.append(s);
        return li;
      }),
    );
    p.labels.hidden = false;
  } catch (err) {
    p.labels.replaceChildren(Object.assign(document.createElement('li'), { textContent: `labels failed: ${err.message}` }));
    p.labels.hidden = false;
  }
}

/** Decode the current .psic in `mode` (none: the model's default) into its panel; a locked full image says how to unlock. */
async function decodeInto(id, mode, key) {
  const p = panel(id);
  clearPanel(p);
  const headers = key ? { 'x-psic-key': key } : {};
  let res;
  try {
    res = await api(mode ? `/v1/decode?mode=${mode}` : '/v1/decode', state.psic, headers);
  } catch (err) {
    if (err.code === 'KEY_REQUIRED' || err.code === 'WRONG_KEY') {
      p.mode.textContent = 'locked';
      showStats(p, [['status', err.code === 'WRONG_KEY' ? 'wrong key' : 'enter the key and press Unlock full']]);
      return;
    }
    if (err.code === 'UNSUPPORTED_MODE') {
      p.mode.textContent = 'n/a';
      showStats(p, [['status', `this model has no ${mode} mode`]]);
      return;
    }
    throw err;
  }
  const png = await res.blob();
  const produced = res.headers.get('x-psic-mode');
  p.mode.textContent = produced === 'plain' ? 'mode: plain (model without protection)' : `mode: ${produced}`;
  p.img.src = objectUrl(png);
  const rows = [
    ['size', `${res.headers.get('x-psic-width')}×${res.headers.get('x-psic-height')}`],
    ['.psic file', formatBytes(state.psic.size)],
    ['bpp', ((state.psic.size * 8) / (state.width * state.height)).toFixed(3)],
  ];
  if (state.original) {
    const value = psnr(state.original.pixels, await pixelsOf(png));
    rows.push(['PSNR', Number.isFinite(value) ? `${value.toFixed(2)} dB` : value === Infinity ? '∞' : 'n/a']);
  }
  showStats(p, rows);
  p.root.dataset.ready = produced;
  await showLabels(p, png);
}

async function handleFile(file) {
  resetUrls();
  for (const id of ['original', 'protected', 'full']) clearPanel(panel(id));
  $('#results').hidden = false;
  $('#download').hidden = true;
  $('#unlock').disabled = true;
  const head = new Uint8Array(await file.slice(0, 4).arrayBuffer());
  const isPsic = String.fromCharCode(...head) === 'PSIC';
  const base = file.name.replace(/\.[^.]+$/, '') || 'image';
  try {
    if (isPsic) {
      state.original = null;
      state.psic = file;
      state.psicName = file.name;
      showStats(panel('original'), [['status', 'not available: a .psic was dropped']]);
      const first = await api('/v1/decode', file);
      state.width = Number(first.headers.get('x-psic-width'));
      state.height = Number(first.headers.get('x-psic-height'));
    } else {
      setStatus('reading the photo…');
      const pixels = await pixelsOf(file).catch(() => null);
      state.original = pixels ? { blob: file, pixels } : null;
      const po = panel('original');
      po.img.src = objectUrl(file);
      showStats(po, [
        ['size', pixels ? `${pixels.width}×${pixels.height}` : '?'],
        ['file', formatBytes(file.size)],
        ['bpp', pixels ? ((file.size * 8) / (pixels.width * pixels.height)).toFixed(3) : '?'],
      ]);
      po.root.dataset.ready = 'original';
      setStatus('encoding…');
      const t0 = performance.now();
      const res = await api(`/v1/encode?model=${encodeURIComponent($('#model').value)}`, file);
      state.psic = await res.blob();
      state.psicName = `${base}.psic`;
      state.width = Number(res.headers.get('x-psic-width'));
      state.height = Number(res.headers.get('x-psic-height'));
      setStatus(`encoded in ${((performance.now() - t0) / 1000).toFixed(2)} s; decoding…`);
      void showLabels(po, file);
    }
    const link = $('#download');
    link.href = objectUrl(state.psic);
    link.download = state.psicName;
    link.hidden = false;
    $('#unlock').disabled = false;
    await decodeInto('protected');
    await decodeInto('full', 'full', $('#key').value || undefined);
    setStatus('done');
  } catch (err) {
    setStatus(`${err.code ?? 'ERROR'}: ${err.message}`, true);
  }
}

async function unlock() {
  if (!state.psic) return;
  const key = $('#key').value;
  if (!key) {
    setStatus('enter the key first', true);
    return;
  }
  try {
    setStatus('unlocking…');
    await decodeInto('full', 'full', key);
    setStatus('done');
  } catch (err) {
    setStatus(`${err.code ?? 'ERROR'}: ${err.message}`, true);
  }
}

async function init() {
  const { models, default: preferred, labels } = await (await api('/v1/models')).json();
  state.labels = labels !== null;
  const select = $('#model');
  for (const m of models) {
    const opt = document.createElement('option');
    opt.value = m.name;
    opt.textContent = m.modes.length ? `${m.name} (${m.modes.map((x) => x.name).join(', ')})` : `${m.name} (plain)`;
    opt.selected = m.name === preferred;
    select.append(opt);
  }
  const note = $('#labels-note');
  note.hidden = false;
  note.textContent = state.labels
    ? `Labels: top-3 zero-shot labels by ${labels.target}, the model the protection is meant to mislead.`
    : 'Labels are hidden: this server has no semantic target configured.';

  const drop = $('#drop');
  const input = $('#file');
  input.addEventListener('change', () => input.files[0] && handleFile(input.files[0]));
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer.files[0];
    if (file) handleFile(file);
  });
  $('#unlock').addEventListener('click', unlock);
  $('#key').addEventListener('keydown', (e) => e.key === 'Enter' && unlock());
  document.body.dataset.ready = 'true';
}

init().catch((err) => setStatus(`cannot reach the server: ${err.message}`, true));
