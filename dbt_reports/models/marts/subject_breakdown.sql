-- The leaderboard's primary metric broken down by item group (MMLU subject, MT-Bench category, ...): the per-group
-- values, standard errors and intervals that scoring computed with the result (evals.metrics rows with an
-- item_group), so every standard error in the reports comes from one formula (scoring.stats). Datasets without
-- item groups have no rows here.

with

leaderboard as (

    select * from {{ ref('leaderboard') }}

),

metrics as (

    select * from {{ ref('stg_metrics') }}

),

final as (

    select
        metrics.model,
        metrics.dataset,
        metrics.profile,
        metrics.item_group,
        metrics.metric,
        metrics.spec_hash,
        leaderboard.variant,
        metrics.value,
        metrics.stderr,  -- sample std / sqrt(n) (scoring.stats.mean_stderr); null for a one-item group
        metrics.ci_low,
        metrics.ci_high,
        metrics.n,
        metrics.value_min,
        metrics.value_max

    from metrics
    inner join leaderboard
        on metrics.model = leaderboard.model
        and metrics.dataset = leaderboard.dataset
        and metrics.profile = leaderboard.profile
        and metrics.spec_hash = leaderboard.spec_hash
        and metrics.metric = leaderboard.metric
    where metrics.item_group is not null

)

select * from final
