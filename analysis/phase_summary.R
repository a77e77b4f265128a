# Per-patient, per-phase figures from an export_entries CSV (see analysis/README.md).
#
#   Rscript analysis/phase_summary.R entries-UNBLINDED.csv > phases.csv
#
# Base R only. Voided entries and entries outside the patient's schedule are left out;
# one CSV row per study_id and phase_order is written to standard output.

REQUIRED <- c(
  "study_id", "phase_order", "phase", "pain", "fatigue", "sleep_quality",
  "vivid_dreams", "headache", "voided"
)
OUTPUT <- c(
  "study_id", "phase_order", "phase", "entries", "pain_mean", "pain_sd",
  "fatigue_mean", "sleep_quality_mean", "headache_days", "vivid_dreams_days"
)

fail <- function(...) {
  cat("phase_summary.R: ", ..., "\n", sep = "", file = stderr())
  quit(save = "no", status = 1)
}

# The app prefixes a text cell that starts with = + - @ (or a tab or carriage return)
# with a single quote so spreadsheets do not run it (diary/files/exports.py, safe_cell).
unprotect <- function(x) {
  sub("^'([-=+@\t\r])", "\\1", x)
}

# One CSV cell: quoted when it holds a comma, a quote or a line break.
csv_cell <- function(x) {
  x[is.na(x)] <- ""
  needs <- grepl("[\",\r\n]", x)
  x[needs] <- paste0("\"", gsub("\"", "\"\"", x[needs], fixed = TRUE), "\"")
  x
}

number <- function(x) {
  ifelse(is.na(x), "", sprintf("%.10g", x))
}

as_score <- function(x, column) {
  value <- suppressWarnings(as.numeric(x))
  bad <- is.na(value)
  if (any(bad)) {
    fail(
      "column ", column, " holds a value that is not a number (\"", x[bad][1], "\"); ",
      "is this an export_entries file?"
    )
  }
  value
}

main <- function(args) {
  if (length(args) != 1 || !nzchar(args[1])) {
    fail(
      "give one argument, the entries CSV made by export_entries.\n",
      "Usage: Rscript analysis/phase_summary.R entries-UNBLINDED.csv > phases.csv"
    )
  }
  path <- args[1]
  if (!file.exists(path) || dir.exists(path)) {
    fail("no such file: ", path)
  }
  entries <- tryCatch(
    read.csv(
      path,
      colClasses = "character", encoding = "UTF-8", na.strings = character(0),
      check.names = FALSE, strip.white = FALSE, quote = "\"", comment.char = ""
    ),
    error = function(e) fail("cannot read ", path, " as CSV: ", conditionMessage(e))
  )
  # A byte-order mark (a file saved again by a spreadsheet) sticks to the first name.
  names(entries) <- sub("^\ufeff", "", enc2utf8(names(entries)))
  missing <- setdiff(REQUIRED, names(entries))
  if (length(missing) > 0) {
    fail(
      path, " lacks the column(s) ", paste(missing, collapse = ", "),
      "; is this an export_entries file?"
    )
  }

  counting <- entries[entries$voided != "yes" & entries$phase_order != "", , drop = FALSE]
  study_id <- unprotect(counting$study_id)
  phase_order <- suppressWarnings(as.integer(counting$phase_order))
  if (anyNA(phase_order)) {
    fail("column phase_order holds a value that is not a whole number")
  }
  pain <- as_score(counting$pain, "pain")
  fatigue <- as_score(counting$fatigue, "fatigue")
  sleep_quality <- as_score(counting$sleep_quality, "sleep_quality")

  key <- paste(study_id, phase_order, sep = "\r")
  groups <- split(seq_along(key), factor(key, levels = unique(key)))
  rows <- lapply(groups, function(i) {
    n <- length(i)
    data.frame(
      study_id = study_id[i[1]],
      phase_order = phase_order[i[1]],
      phase = unprotect(counting$phase[i[1]]),
      entries = n,
      pain_mean = mean(pain[i]),
      pain_sd = if (n >= 2) sd(pain[i]) else NA_real_,
      fatigue_mean = mean(fatigue[i]),
      sleep_quality_mean = mean(sleep_quality[i]),
      headache_days = sum(counting$headache[i] == "yes"),
      vivid_dreams_days = sum(counting$vivid_dreams[i] == "yes"),
      stringsAsFactors = FALSE
    )
  })
  out <- if (length(rows) > 0) do.call(rbind, rows) else NULL

  lines <- paste(OUTPUT, collapse = ",")
  if (!is.null(out)) {
    # Byte order (method "radix"): the same on every machine, whatever its locale.
    out <- out[order(out$study_id, out$phase_order, method = "radix"), , drop = FALSE]
    cells <- cbind(
      csv_cell(out$study_id),
      as.character(out$phase_order),
      csv_cell(out$phase),
      as.character(out$entries),
      number(out$pain_mean),
      number(out$pain_sd),
      number(out$fatigue_mean),
      number(out$sleep_quality_mean),
      as.character(out$headache_days),
      as.character(out$vivid_dreams_days)
    )
    lines <- c(lines, apply(cells, 1, paste, collapse = ","))
  }
  # Bytes as they are: UTF-8 in, UTF-8 out, whatever the locale.
  writeLines(enc2utf8(lines), stdout(), useBytes = TRUE)
}

main(commandArgs(trailingOnly = TRUE))
