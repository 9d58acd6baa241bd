"""``gmmseg select``: choose K and the covariance type for a numeric table."""

from __future__ import annotations

from pathlib import Path

import click

from ..core.selection import CRITERIA, select_components
from ..errors import ParameterError
from ._common import ComponentsType, echo_json, is_quiet, json_option, quiet_option
from ._group import cli


@cli.command("select")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-k",
    "--components",
    "ks",
    type=ComponentsType(auto=False, lists=True),
    default="1-10",
    show_default=True,
    help="K values: 4, 1-10 or 2,4,8.",
)
@click.option(
    "--covariance",
    "covariance_types",
    multiple=True,
    type=click.Choice(["full", "tied", "diag", "spherical"]),
    help="Covariance type(s) to try (repeat the option); default all four.",
)
@click.option("--criterion", type=click.Choice(CRITERIA), default="bic", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same result).")
@click.option(
    "--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the criterion curves as PNG."
)
@click.option(
    "--save-model", "model_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the chosen model file."
)
@json_option
@quiet_option
@click.pass_context
def select_command(ctx, data, ks, covariance_types, criterion, seed, plot_path, model_path, as_json, quiet):
    """Choose the number of components and covariance type for DATA (numeric CSV or .npy).

    Prints the criterion table and the chosen model; lower criterion is better.
    """
    from ..files import check_not_input
    from ..tables.io import read_numeric_matrix

    quiet = is_quiet(ctx, quiet)
    for output, option in ((plot_path, "--plot"), (model_path, "--save-model")):
        if output is not None:
            check_not_input(output, [data], option=option)
    if plot_path is not None and model_path is not None and plot_path.resolve() == model_path.resolve():
        raise ParameterError(f"--plot and --save-model both name {plot_path}; give two different files")
    X, names = read_numeric_matrix(data)
    types = covariance_types or ("full", "tied", "diag", "spherical")
    result = select_components(X, ks, types, criterion=criterion, random_state=seed)
    result.best_model.feature_names_in_ = __import__("numpy").asarray(names, dtype=object)
    if plot_path:
        from ..reports.plots import plot_criterion

        plot_criterion(result, plot_path, title=f"{criterion.upper()} for {data.name}")
    if model_path:
        result.best_model.save(model_path)
    summary = result.summary() | {"data": str(data), "n_rows": int(X.shape[0]), "columns": names}
    if as_json:
        echo_json(summary)
        return
    if quiet:
        return
    click.echo(f"{data.name}: {X.shape[0]} rows x {X.shape[1]} columns ({', '.join(names)})")
    click.echo(f"{'K':>3} {'covariance':<10} {'log-lik':>14} {'params':>7} {'BIC':>14} {'AIC':>14} {'ICL':>14}  conv")
    for row in result.table:
        mark = (
            " <"
            if (row["n_components"], row["covariance_type"]) == (result.best_n_components, result.best_covariance_type)
            else ""
        )
        click.echo(
            f"{row['n_components']:>3} {row['covariance_type']:<10} {row['log_likelihood']:>14.2f} "
            f"{row['n_parameters']:>7} {row['bic']:>14.2f} {row['aic']:>14.2f} {row['icl']:>14.2f}  "
            f"{'yes' if row['converged'] else 'no'}{mark}"
        )
    click.echo(f"chosen by {criterion.upper()}: K={result.best_n_components}, covariance={result.best_covariance_type}")
    if plot_path:
        click.echo(f"criterion curves: {plot_path}")
    if model_path:
        click.echo(f"model: {model_path}")
