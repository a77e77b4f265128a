# Per-patient, per-phase clinic measures from an export_visits CSV, and baseline ESR
# against pain reduction on LDN from it and an export_entries CSV (see
# analysis/README.md).
#
#   Rscript analysis/visit_summary.R entries-UNBLINDED.csv visits-UNBLINDED.csv > visit_phases.csv
#   Rscript analysis/visit_summary.R --esr-response entries-UNBLINDED.csv visits-UNBLINDED.csv
#
# Base R only. Voided visits and entries are left out; a visit before the start counts
# for the first phase (export_visits already gives it that phase_order).

ENTRY_COLUMNS <- c("study_id", "phase_order", "phase", "pain", "voided")
MEASURES <- c("esr", "pressure_threshold", "heat_threshold")
VISIT_COLUMNS <- c("study_id", "visit_date", "phase_order", "phase", MEASURES, "voided")
OUTPUT <- c(
  "study_id", "phase_order", "phase",
  as.vector(rbind(MEASURES, paste0(MEASURES, "_change")))
)
RESPONSE_OUTPUT <- c("patients", "spearman_rho", "pearson_r")
USAGE <- paste0(
  "Usage: Rscript analysis/visit_summary.R [--esr-response] entries-UNBLINDED.csv ",
  "visits-UNBLINDED.csv"
)
# The phase labels of an unblinded file (diary.trial.phases.PhaseKind).
BASELINE <- "Baseline"
LDN <- "LDN"

fail <- function(...) {
  cat("visit_summary.R: ", ..., "\n", sep = "", file = stderr())
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

# A column of numbers; a blank cell is NA (a measure not done), anything else that is
# not a number is an error.
as_number <- function(x, column, what) {
  value <- suppressWarnings(as.numeric(x))
  bad <- is.na(value) & x != ""
  if (any(bad)) {
    fail(
      "column ", column, " holds a value that is not a number (\"", x[bad][1], "\"); ",
      "is this an ", what, " file?"
    )
  }
  value
}

read_export <- function(path, required, what) {
  if (!file.exists(path) || dir.exists(path)) {
    fail("no such file: ", path)
  }
  rows <- tryCatch(
    read.csv(
      path,
      colClasses = "character", encoding = "UTF-8", na.strings = character(0),
      check.names = FALSE, strip.white = FALSE, quote = "\"", comment.char = ""
    ),
    error = function(e) fail("cannot read ", path, " as CSV: ", conditionMessage(e))
  )
  # A byte-order mark (a file saved again by a spreadsheet) sticks to the first name.
  names(rows) <- sub("^\ufeff", "", enc2utf8(names(rows)))
  missing <- setdiff(required, names(rows))
  if (length(missing) > 0) {
    fail(
      path, " lacks the column(s) ", paste(missing, collapse = ", "),
      "; is this an ", what, " file?"
    )
  }
  # Counting rows only: not voided, inside the schedule.
  rows <- rows[rows$voided != "yes" & rows$phase_order != "", , drop = FALSE]
  rows$study_id <- unprotect(rows$study_id)
  rows$phase <- unprotect(rows$phase)
  order <- suppressWarnings(as.integer(rows$phase_order))
  if (anyNA(order)) {
    fail("column phase_order of ", path, " holds a value that is not a whole number")
  }
  rows$phase_order <- order
  rows
}

# The value of `measure` at the last visit (by date) that has it, per study_id and
# phase_order: a data frame with those two columns and the measure.
last_values <- function(visits, measure) {
  with_value <- visits[!is.na(visits[[measure]]), , drop = FALSE]
  with_value <- with_value[
    order(with_value$study_id, with_value$phase_order, with_value$visit_date, method = "radix"),
    ,
    drop = FALSE
  ]
  key <- paste(with_value$study_id, with_value$phase_order, sep = "\r")
  last <- with_value[!duplicated(key, fromLast = TRUE), c("study_id", "phase_order", measure)]
  last
}

# Per study_id and phase_order with a counting visit: each measure at the phase's last
# visit that has it, and its change from the patient's baseline value.
visit_phases <- function(visits) {
  key <- paste(visits$study_id, visits$phase_order, sep = "\r")
  phases <- visits[!duplicated(key), c("study_id", "phase_order", "phase"), drop = FALSE]
  for (measure in MEASURES) {
    phases <- merge(phases, last_values(visits, measure), all.x = TRUE)
    baseline <- phases[phases$phase == BASELINE, c("study_id", measure), drop = FALSE]
    names(baseline)[2] <- "baseline_value"
    phases <- merge(phases, baseline, all.x = TRUE)
    change <- phases[[measure]] - phases$baseline_value
    change[phases$phase == BASELINE] <- NA
    phases[[paste0(measure, "_change")]] <- change
    phases$baseline_value <- NULL
  }
  # Byte order (method "radix"): the same on every machine, whatever its locale.
  phases[order(phases$study_id, phases$phase_order, method = "radix"), , drop = FALSE]
}

# Each patient's pain reduction on LDN in % of her baseline mean pain; a patient with
# more than one LDN phase gets the mean of her phases' reductions.
ldn_reductions <- function(entries) {
  if (nrow(entries) == 0) {
    return(data.frame(study_id = character(0), reduction = numeric(0)))
  }
  pain <- as_number(entries$pain, "pain", "export_entries")
  means <- aggregate(
    pain ~ study_id + phase_order + phase,
    data = data.frame(study_id = entries$study_id, phase_order = entries$phase_order,
                      phase = entries$phase, pain = pain, stringsAsFactors = FALSE),
    FUN = mean
  )
  baseline <- means[means$phase == BASELINE, c("study_id", "pain")]
  names(baseline)[2] <- "baseline_pain"
  ldn <- merge(means[means$phase == LDN, , drop = FALSE], baseline)
  ldn <- ldn[ldn$baseline_pain != 0, , drop = FALSE]
  if (nrow(ldn) == 0) {
    return(data.frame(study_id = character(0), reduction = numeric(0)))
  }
  ldn$reduction <- 100 * (ldn$baseline_pain - ldn$pain) / ldn$baseline_pain
  aggregate(reduction ~ study_id, data = ldn, FUN = mean)
}

# Baseline ESR (the baseline phase's last ESR) against pain reduction on LDN: the
# patients with both, Spearman's rho (Pearson's r of the ranks, ties sharing their
# average rank) and Pearson's r; rho and r NA below 3 patients or when a variable is
# constant.
esr_response <- function(entries, visits) {
  esr <- last_values(visits[visits$phase == BASELINE, , drop = FALSE], "esr")
  pairs <- merge(esr[, c("study_id", "esr")], ldn_reductions(entries))
  n <- nrow(pairs)
  rho <- NA_real_
  r <- NA_real_
  if (n >= 3 && length(unique(pairs$esr)) > 1 && length(unique(pairs$reduction)) > 1) {
    rho <- cor(rank(pairs$esr, ties.method = "average"),
               rank(pairs$reduction, ties.method = "average"))
    r <- cor(pairs$esr, pairs$reduction)
  }
  data.frame(patients = n, spearman_rho = rho, pearson_r = r)
}

main <- function(args) {
  response <- length(args) > 0 && args[1] == "--esr-response"
  if (response) {
    args <- args[-1]
  }
  if (length(args) != 2 || !all(nzchar(args))) {
    fail(
      "give two arguments, the entries CSV made by export_entries and the visits CSV ",
      "made by export_visits.\n", USAGE
    )
  }
  entries <- read_export(args[1], ENTRY_COLUMNS, "export_entries")
  visits <- read_export(args[2], VISIT_COLUMNS, "export_visits")
  for (measure in MEASURES) {
    visits[[measure]] <- as_number(visits[[measure]], measure, "export_visits")
  }

  if (response) {
    result <- esr_response(entries, visits)
    lines <- c(
      paste(RESPONSE_OUTPUT, collapse = ","),
      paste(result$patients, number(result$spearman_rho), number(result$pearson_r), sep = ",")
    )
  } else {
    lines <- paste(OUTPUT, collapse = ",")
    if (nrow(visits) > 0) {
      out <- visit_phases(visits)
      cells <- cbind(
        csv_cell(out$study_id),
        as.character(out$phase_order),
        csv_cell(out$phase),
        do.call(cbind, lapply(OUTPUT[-(1:3)], function(name) number(out[[name]])))
      )
      lines <- c(lines, apply(cells, 1, paste, collapse = ","))
    }
  }
  # Bytes as they are: UTF-8 in, UTF-8 out, whatever the locale.
  writeLines(enc2utf8(lines), stdout(), useBytes = TRUE)
}

main(commandArgs(trailingOnly = TRUE))
