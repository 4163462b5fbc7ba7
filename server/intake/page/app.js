/* app.js: the page's interface. Files in, fingerprints shown, sent on request.
 *
 * Invariants:
 * - Every word a person reads comes from texts.json (translatable); the HTML
 *   holds only placeholders (data-text="key").
 * - Files are handed to worker.js and never read here; only their hashes come
 *   back. Nothing is sent until the person presses Send, and then only the
 *   JSON {"signals": [...]} listed on screen, to {api}/v1/cases.
 * - A file's element gets data-signals only once all its hashes are made
 *   (data-error instead if it failed); the review lists exactly the signals
 *   that Send sends: md5 and sha256 of every file, pdq only when its quality
 *   is at least PDQ_MIN_QUALITY (hashlist.signals), deduplicated.
 * - No cookies, no storage, no third party: requests go to this page's own
 *   origin or the API origin in <meta name="hashlist-api">, without
 *   credentials or referrer.
 */
'use strict';

(function () {
  var PDQ_MIN_QUALITY = 50;
  var texts = {};
  var api = '';
  var worker = null;
  var files = [];  // {id, name, element, done, failed, md5, sha256, pdq, quality}
  var nextId = 1;
  var sent = false;
  var sending = false;  // a POST in flight: no new files until it is answered

  function $(id) { return document.getElementById(id); }

  // texts[key] with {name} placeholders filled from vars.
  function t(key, vars) {
    var s = texts[key] === undefined ? key : String(texts[key]);
    return s.replace(/\{(\w+)\}/g, function (m, name) {
      return vars && vars[name] !== undefined ? String(vars[name]) : m;
    });
  }

  function fillTexts() {
    document.documentElement.lang = texts.lang || 'en';
    document.documentElement.dir = texts.dir || 'ltr';
    document.title = t('title');
    var nodes = document.querySelectorAll('[data-text]');
    for (var i = 0; i < nodes.length; i++) nodes[i].textContent = t(nodes[i].getAttribute('data-text'));
  }

  function start() {
    var meta = document.querySelector('meta[name="hashlist-api"]');
    api = meta ? meta.content.replace(/\/+$/, '') : '';
    fetch('texts.json', { credentials: 'omit', cache: 'no-cache' })
      .then(function (r) { return r.json(); })
      .then(function (loaded) {
        texts = loaded;
        fillTexts();
        wire();
        document.body.setAttribute('data-ready', '');
      });
  }

  function wire() {
    var input = $('file-input'), zone = $('dropzone');
    input.addEventListener('change', function () {
      addFiles(input.files);
      input.value = '';  // picking the same file again is a new choice
    });
    zone.addEventListener('dragover', function (e) {
      e.preventDefault();
      zone.classList.add('active');
      $('drop-hint').textContent = t('drop_active');
    });
    zone.addEventListener('dragleave', function () { endDrag(); });
    zone.addEventListener('drop', function (e) {
      e.preventDefault();
      endDrag();
      if (e.dataTransfer) addFiles(e.dataTransfer.files);
    });
    // A file dropped next to the zone must not make the browser open it (and
    // leave this page).
    window.addEventListener('dragover', function (e) { e.preventDefault(); });
    window.addEventListener('drop', function (e) { e.preventDefault(); });
    $('clear').addEventListener('click', clearAll);
    $('submit').addEventListener('click', submit);
    $('check-form').addEventListener('submit', function (e) {
      e.preventDefault();
      caseRequest('');
    });
    $('withdraw').addEventListener('click', function () { caseRequest('/withdraw'); });
  }

  function endDrag() {
    $('dropzone').classList.remove('active');
    $('drop-hint').textContent = t('drop_hint');
  }

  /* ---- Hashing ---- */

  function ensureWorker() {
    if (worker) return worker;
    worker = new Worker('worker.js');
    worker.onmessage = function (e) { onWorker(e.data); };
    return worker;
  }

  function addFiles(list) {
    // While a case is being sent, the review must stay what is being sent.
    if (!list || list.length === 0 || sending) return;
    if (sent) {  // a new choice after sending is a new case
      resetList();
      sent = false;
    }
    var ul = $('file-list');
    for (var i = 0; i < list.length; i++) {
      var file = list[i];
      var entry = { id: nextId++, name: file.name, done: false, failed: false };
      var li = document.createElement('li');
      li.setAttribute('data-file', file.name);
      var name = document.createElement('span');
      name.className = 'name';
      name.textContent = file.name;
      var bar = document.createElement('progress');
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute('aria-label', t('file_progress_label', { name: file.name }));
      var state = document.createElement('span');
      state.className = 'state';
      state.textContent = t('file_waiting');
      li.appendChild(name);
      li.appendChild(bar);
      li.appendChild(state);
      ul.appendChild(li);
      entry.element = li;
      entry.bar = bar;
      entry.state = state;
      files.push(entry);
      ensureWorker().postMessage({ id: entry.id, file: file });
    }
    $('clear').hidden = false;
    clearError('submit-error');
    updateStatus();
    renderReview();
  }

  function find(id) {
    for (var i = 0; i < files.length; i++) if (files[i].id === id) return files[i];
    return null;
  }

  function onWorker(msg) {
    var entry = find(msg.id);
    if (!entry) return;  // a file from a cleared list
    if (msg.type === 'progress') {
      var percent = msg.total ? Math.floor((100 * msg.done) / msg.total) : 100;
      entry.bar.value = percent;
      entry.state.textContent = t('file_progress', { percent: percent });
      return;
    }
    entry.done = true;
    entry.bar.value = 100;
    if (msg.type === 'error') {
      entry.failed = true;
      var message = t('file_error', { detail: msg.detail });
      entry.state.textContent = message;
      entry.element.setAttribute('data-error', message);
    } else {
      entry.md5 = msg.md5;
      entry.sha256 = msg.sha256;
      entry.pdq = msg.pdq;
      entry.quality = msg.quality;
      var words;
      if (msg.pdq) {
        words = t('file_done_image');
        if (msg.quality < PDQ_MIN_QUALITY) words += ' ' + t('file_low_quality');
        entry.element.setAttribute('data-pdq-quality', String(msg.quality));
      } else if (msg.note === 'too-large') {
        words = t('file_too_large', { width: msg.width, height: msg.height });
      } else {
        words = t('file_done_other');
      }
      entry.state.textContent = words;
      var signals = (msg.pdq ? 'pdq:' + msg.pdq + ' ' : '') + 'md5:' + msg.md5 + ' sha256:' + msg.sha256;
      entry.element.setAttribute('data-signals', signals);  // last: tests wait for it
    }
    updateStatus();
    renderReview();
  }

  function pending() {
    var n = 0;
    for (var i = 0; i < files.length; i++) if (!files[i].done) n++;
    return n;
  }

  function updateStatus() {
    var total = files.length, left = pending();
    var el = $('hash-status');
    if (total === 0) el.textContent = '';
    else if (left > 0) el.textContent = t('status_hashing', { done: total - left, total: total });
    else el.textContent = total === 1 ? t('status_done_one') : t('status_done', { total: total });
  }

  // The signals Send would send, in order, deduplicated; and the PDQs left out.
  function toSend() {
    var out = [], seen = {}, leftOut = [];
    function add(s) { if (!seen[s]) { seen[s] = true; out.push(s); } }
    for (var i = 0; i < files.length; i++) {
      var f = files[i];
      if (!f.done || f.failed) continue;
      if (f.pdq) {
        if (f.quality >= PDQ_MIN_QUALITY) add('pdq:' + f.pdq);
        else leftOut.push(f.name);
      }
      add('md5:' + f.md5);
      add('sha256:' + f.sha256);
    }
    return { signals: out, leftOut: leftOut };
  }

  function renderReview() {
    var plan = toSend(), list = $('review-list'), notes = $('review-notes');
    list.textContent = '';
    notes.textContent = '';
    for (var i = 0; i < plan.signals.length; i++) {
      var s = plan.signals[i], kind = s.slice(0, s.indexOf(':'));
      var li = document.createElement('li');
      li.setAttribute('data-signal', s);
      var label = document.createElement('span');
      label.className = 'kind';
      label.textContent = t('kind_' + kind);
      var code = document.createElement('code');
      code.textContent = s;
      li.appendChild(label);
      li.appendChild(document.createTextNode(' '));
      li.appendChild(code);
      list.appendChild(li);
    }
    for (var j = 0; j < plan.leftOut.length; j++) {
      var note = document.createElement('li');
      note.textContent = t('review_left_out', { name: plan.leftOut[j] });
      notes.appendChild(note);
    }
    var count = plan.signals.length;
    $('review-empty').hidden = count > 0;
    var explain = $('review-explain');
    explain.hidden = count === 0;
    explain.textContent = count === 1 ? t('review_explain_one') : t('review_explain', { count: count });
    var waiting = pending() > 0;
    $('submit').disabled = sent || count === 0 || waiting;
    $('submit-status').textContent = waiting && count > 0 ? t('submit_wait') : '';
  }

  function resetList() {
    if (worker) {  // stop hashing files that are no longer wanted
      worker.terminate();
      worker = null;
    }
    files = [];
    $('file-list').textContent = '';
    $('clear').hidden = true;
  }

  function clearAll() {
    resetList();
    sent = false;
    clearError('submit-error');
    updateStatus();
    renderReview();
    $('file-input').focus();
  }

  /* ---- Talking to the intake API ---- */

  function request(method, path, body, headers) {
    var h = { 'Content-Type': 'application/json', 'Accept': 'application/json' };
    for (var k in headers) h[k] = headers[k];
    return fetch(api + path, {
      method: method, headers: h, body: body === null ? undefined : JSON.stringify(body),
      credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer', redirect: 'error'
    }).then(function (response) {
      return response.json().then(function (data) { return data; }, function () { return null; })
        .then(function (data) {
          if (response.ok && data) return data;
          var message = data && data.error && data.error.message;
          throw { api: true, message: message || t('error_http', { status: response.status }) };
        });
    });
  }

  function showError(id, message) {
    var el = $(id);
    el.textContent = message;
    el.setAttribute('data-error-message', message);
  }

  function clearError(id) {
    var el = $(id);
    el.textContent = '';
    el.removeAttribute('data-error-message');
  }

  function submit() {
    var plan = toSend();
    if (plan.signals.length === 0 || pending() > 0) return;
    var button = $('submit');
    button.disabled = true;
    sending = true;
    $('file-input').disabled = true;
    clearError('submit-error');
    $('submit-status').textContent = t('submitting');
    function done() {
      sending = false;
      $('file-input').disabled = false;
    }
    request('POST', '/v1/cases', { signals: plan.signals }, {}).then(function (answer) {
      done();
      sent = true;
      $('submit-status').textContent = '';
      showReceipt(answer);
      renderReview();
    }, function (e) {
      done();
      $('submit-status').textContent = '';
      showError('submit-error', e && e.api ? e.message : t('error_network'));
      button.disabled = false;
    });
  }

  function showReceipt(answer) {
    var receipt = $('receipt');
    $('receipt-case').textContent = answer['case'];
    $('receipt-pin').textContent = answer.pin;
    receipt.setAttribute('data-case', answer['case']);
    receipt.setAttribute('data-pin', answer.pin);
    receipt.hidden = false;
    receipt.focus();  // read out at once; the PIN is shown only now
    $('case-number').value = answer['case'];
  }

  function caseRequest(suffix) {
    var number = $('case-number').value.trim().toUpperCase();
    var pin = $('case-pin').value.replace(/\D/g, '');
    var status = $('case-status');
    clearError('check-error');
    if (!number || !pin) {
      showError('check-error', t('check_missing'));
      return;
    }
    status.removeAttribute('data-case-status');
    status.textContent = t('checking');
    var path = '/v1/cases/' + encodeURIComponent(number) + suffix;
    var body = suffix ? {} : null;
    request(suffix ? 'POST' : 'GET', path, body, { 'Authorization': 'PIN ' + pin })
      .then(function (answer) {
        var key = 'status_' + answer.status;
        if (answer.status === 'listed' && answer.version !== null && answer.version !== undefined) {
          key = 'status_listed_version';
        }
        if (texts[key] === undefined) key = 'status_unknown';
        status.textContent = t(key, { 'case': answer['case'], version: answer.version, status: answer.status });
        status.setAttribute('data-case-status', answer.status);
      }, function (e) {
        status.textContent = '';
        showError('check-error', e && e.api ? e.message : t('error_network_check'));
      });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
