# One peer fit in R, timed in-process; prints one JSON line on stdout.
#
#   Rscript peer.R PEER CSV FORMULA NAGQ FACTORS REPEAT
#
# PEER: glmer | glmmTMB.  NAGQ: adaptive quadrature points (glmer only; 1 = Laplace).
# FACTORS: comma-separated columns turned into factor() ("" for none).
# REPEAT: fits in this process; the JSON lists every fit's seconds.
args <- commandArgs(trailingOnly = TRUE)
peer <- args[1]; csv <- args[2]; formula <- as.formula(args[3])
nagq <- as.integer(args[4]); factors <- strsplit(args[5], ",", fixed = TRUE)[[1]]
repeats <- as.integer(args[6])

package <- if (peer == "glmer") "lme4" else "glmmTMB"
suppressPackageStartupMessages(library(package, character.only = TRUE))
d <- read.csv(csv)
for (f in factors) d[[f]] <- factor(d[[f]])

warned <- character(0)
fit_once <- function() {
  withCallingHandlers(
    if (peer == "glmer") {
      glmer(formula, data = d, family = binomial, nAGQ = nagq)
    } else {
      glmmTMB(formula, data = d, family = binomial)
    },
    warning = function(w) {
      warned <<- c(warned, conditionMessage(w))
      invokeRestart("muffleWarning")
    }
  )
}

seconds <- numeric(0)
for (i in seq_len(repeats)) {
  t0 <- proc.time()[["elapsed"]]
  m <- fit_once()
  seconds <- c(seconds, proc.time()[["elapsed"]] - t0)
}

converged <- if (peer == "glmer") {
  is.null(m@optinfo$conv$lme4$messages) && m@optinfo$conv$opt == 0
} else {
  m$fit$convergence == 0 && isTRUE(m$sdr$pdHess)
}
quote <- function(s) paste0('"', gsub('(["\\\\])', "\\\\\\1", gsub("[\r\n\t]", " ", s)), '"')
cat(sprintf(
  '{"ll": %.10f, "seconds": [%s], "converged": %s, "nagq": %d, "version": "%s", "warnings": [%s]}\n',
  as.numeric(logLik(m)), paste(sprintf("%.6f", seconds), collapse = ", "),
  tolower(as.character(converged)), if (peer == "glmer") nagq else 1L,
  as.character(packageVersion(package)), paste(vapply(unique(warned), quote, ""), collapse = ", ")
))
