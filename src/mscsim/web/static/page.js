// The clinician page: a form over the presets, a language switch, and the answers as
// plotly figures with a one-sentence reading under each. Every word comes from
// config.ui[lang] or from the server's answers in that language.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const state = {
    lang: config.lang,
    scenario: structuredClone(config.presets[config.defaultPreset]),
    preset: config.defaultPreset,
    answers: config.initial, // by language, for the scenario shown
  };
  const form = document.getElementById("form");
  const out = document.getElementById("answers");
  const ui = () => config.ui[state.lang];

  const CHOICES = {
    disease: Object.keys(config.diseaseDefaults),
    route: ["intravenous", "intra_arterial", "intramuscular", "intra_articular", "intrathecal", "intralesional"],
    source: ["umbilical_cord", "bone_marrow", "adipose"],
    donor: ["allogeneic", "autologous"],
    dose_unit: ["dose_per_kg", "dose_total"],
  };
  const PREFIX = { disease: "disease_", route: "route_", source: "source_", donor: "donor_", dose_unit: "" };

  function field(name, control) {
    const label = document.createElement("label");
    label.className = "field";
    const span = document.createElement("span");
    span.dataset.ui = name;
    span.textContent = ui()[name];
    label.append(span, control);
    return label;
  }
  function select(name, options, labelKey) {
    const s = document.createElement("select");
    s.name = name;
    for (const value of options) {
      const o = document.createElement("option");
      o.value = value;
      o.dataset.ui = labelKey(value);
      o.textContent = ui()[labelKey(value)];
      s.append(o);
    }
    return s;
  }
  function number(name, step) {
    const i = document.createElement("input");
    i.type = "text";
    i.inputMode = "decimal";
    i.name = name;
    i.dataset.step = step || "any";
    return i;
  }

  function buildForm() {
    form.innerHTML = "";
    const preset = select("preset", config.presetOrder, (p) => "preset_" + p);
    form.append(field("preset", preset));
    for (const name of ["disease", "route", "source", "donor"]) {
      form.append(field(name, select(name, CHOICES[name], (v) => PREFIX[name] + v)));
    }
    form.append(field("viability", number("viability")));
    form.append(field("dose_unit", select("dose_unit", CHOICES.dose_unit, (v) => v)));
    form.append(field("dose", number("dose")));
    form.append(field("weight", number("weight")));
    form.append(field("count", number("count")));
    form.append(field("every_days", number("every_days")));
    form.append(field("horizon", number("horizon")));
    const run = document.createElement("button");
    run.type = "submit";
    run.id = "run";
    run.dataset.ui = "run";
    run.textContent = ui().run;
    const downloads = document.createElement("span");
    downloads.id = "downloads";
    for (const format of ["pdf", "html"]) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "download";
      b.dataset.ui = "download_" + format;
      b.dataset.format = format;
      b.textContent = ui()["download_" + format];
      b.addEventListener("click", () => download(format));
      downloads.append(b);
    }
    const status = document.createElement("p");
    status.id = "status";
    status.setAttribute("role", "status");
    form.append(run, downloads, status);
    preset.addEventListener("change", () => {
      state.preset = preset.value;
      state.scenario = structuredClone(config.presets[preset.value]);
      fillForm();
      compute();
    });
    fillForm();
  }

  function fillForm() {
    const s = state.scenario;
    const d = s.dose[0];
    const set = (n, v) => { form.elements[n].value = v === undefined || v === null ? "" : String(v); };
    set("preset", state.preset);
    set("disease", s.disease.model);
    set("route", d.route);
    set("source", s.product.source);
    set("donor", s.product.donor);
    set("viability", s.product.viability !== undefined ? +(s.product.viability * 100).toPrecision(4) : "");
    set("dose_unit", d.cells_per_kg !== undefined ? "dose_per_kg" : "dose_total");
    set("dose", d.cells_per_kg !== undefined ? d.cells_per_kg : d.cells);
    set("weight", s.patient.weight_kg);
    set("count", d.count || 1);
    set("every_days", d.every_days || "");
    set("horizon", s.simulation.horizon_days);
  }

  // The scenario the form describes: the preset with the form's values put in.
  function readForm() {
    const s = structuredClone(state.scenario);
    const v = (n) => form.elements[n].value.trim();
    const num = (n) => (v(n) === "" ? undefined : Number(v(n)));
    const disease = v("disease");
    if (disease !== s.disease.model) s.disease = structuredClone(config.diseaseDefaults[disease]);
    const d = s.dose[0];
    d.route = v("route");
    if (d.route !== "intravenous" && d.route !== "intra_arterial") delete d.infusion_hours;
    s.product.source = v("source");
    s.product.donor = v("donor");
    if (s.product.donor === "autologous") delete s.product.hla_match;
    const viability = num("viability");
    if (viability === undefined) delete s.product.viability; else s.product.viability = viability / 100;
    delete d.cells; delete d.cells_per_kg;
    d[v("dose_unit") === "dose_per_kg" ? "cells_per_kg" : "cells"] = num("dose");
    s.patient.weight_kg = num("weight");
    d.count = num("count");
    const every = num("every_days");
    if (d.count > 1) d.every_days = every; else delete d.every_days;
    s.simulation.horizon_days = num("horizon");
    return s;
  }

  async function post(scenario, lang) {
    const response = await fetch("/api/answers", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ scenario: scenario, lang: lang }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || response.statusText);
    return body;
  }

  async function compute() {
    const status = document.getElementById("status");
    const scenario = readForm();
    status.className = "";
    status.textContent = ui().running;
    document.body.classList.add("busy");
    try {
      const answers = await post(scenario, state.lang);
      state.scenario = scenario;
      state.answers = { [state.lang]: answers };
      status.textContent = "";
      render();
    } catch (err) {
      status.className = "error";
      status.textContent = ui().refused + " " + err.message;
    } finally {
      document.body.classList.remove("busy");
    }
  }

  // The printable report of the scenario shown, in the page's language, as a file.
  async function download(format) {
    const status = document.getElementById("status");
    status.className = "";
    status.textContent = ui().running;
    try {
      const response = await fetch("/api/report", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ scenario: state.scenario, lang: state.lang, format: format }),
      });
      if (!response.ok) {
        const body = await response.json();
        throw new Error(body.detail || response.statusText);
      }
      const url = URL.createObjectURL(await response.blob());
      const link = document.createElement("a");
      link.href = url;
      link.download = "mscsim-report-" + state.lang + "." + format;
      document.body.append(link);
      link.click();
      link.remove();
      URL.revokeObjectURL(url);
      status.textContent = "";
    } catch (err) {
      status.className = "error";
      status.textContent = ui().refused + " " + err.message;
    }
  }

  async function switchLanguage(lang) {
    state.lang = lang;
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    translateFrame();
    if (!state.answers[lang]) {
      try {
        state.answers[lang] = await post(state.scenario, lang);
      } catch (err) {
        document.getElementById("status").textContent = ui().refused + " " + err.message;
        return;
      }
    }
    render();
  }

  function translateFrame() {
    document.title = ui().title;
    document.getElementById("title").textContent = ui().title;
    document.getElementById("subtitle").textContent = ui().subtitle;
    document.getElementById("offline").textContent = ui().offline;
    for (const el of form.querySelectorAll("[data-ui]")) el.textContent = ui()[el.dataset.ui];
    for (const b of document.querySelectorAll("#lang-switch button")) {
      b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang));
    }
  }

  function render() {
    const answers = state.answers[state.lang];
    if (!answers) return;
    out.innerHTML = "";
    const note = document.createElement("p");
    note.className = "muted";
    note.textContent = ui().disclaimer;
    out.append(note);
    for (const section of answers.sections) renderSection(section);
    if (answers.warnings && answers.warnings.length) {
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = ui().notes;
      details.append(summary);
      for (const w of answers.warnings) {
        const p = document.createElement("p");
        p.lang = "en";
        p.textContent = w;
        details.append(p);
      }
      out.append(details);
    }
  }

  function renderSection(section) {
    const box = document.createElement("section");
    out.append(box); // in the page before plotting, so the figure takes the column's width
    box.className = "answer";
    box.id = "answer-" + section.id;
    const h = document.createElement("h2");
    h.textContent = section.title;
    box.append(h);
    if (section.figure) {
      const fig = document.createElement("div");
      fig.className = "figure";
      box.append(fig);
      const layout = Object.assign({ autosize: true }, section.figure.layout);
      Plotly.newPlot(fig, section.figure.data, layout, {
        responsive: true,
        displaylogo: false,
        locale: state.lang === "zh" ? "zh-CN" : "en",
      });
    }
    const reading = document.createElement("p");
    reading.className = "reading";
    reading.textContent = section.reading;
    box.append(reading);
    if (section.guesses && section.guesses.length) box.append(guessList(section.guesses));
    if (section.sources && section.sources.length) box.append(sourceList(section.sources));
    return box;
  }

  function guessList(items) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = ui().guesses_title;
    details.append(summary);
    const list = document.createElement("ul");
    for (const g of items) {
      const li = document.createElement("li");
      li.textContent = g.name + ": " + g.value + (g.references.length ? " (" + g.references.join(", ") + ")" : "");
      list.append(li);
    }
    details.append(list);
    return details;
  }

  function sourceList(sources) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    const refs = sources.flatMap((s) => s.references);
    summary.textContent = ui().sources + (refs.length ? ": " + [...new Set(refs)].join(", ") : "");
    details.append(summary);
    for (const s of sources) {
      const p = document.createElement("p");
      p.lang = "en";
      p.className = "source";
      p.title = ui().sources_original;
      p.textContent = s.text;
      details.append(p);
    }
    return details;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    compute();
  });
  for (const b of document.querySelectorAll("#lang-switch button")) {
    b.addEventListener("click", () => switchLanguage(b.dataset.lang));
  }
  buildForm();
  translateFrame();
  render();
})();
