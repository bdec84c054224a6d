-- The leaderboard's primary metric broken down by item group (MMLU subject, MT-Bench category, ...), recomputed
-- from the per-item scores of the same current spec. Datasets without item groups have no rows here.

with

leaderboard as (

    select * from {{ ref('leaderboard') }}

),

sample_scores as (

    select * from {{ ref('stg_sample_scores') }}

),

current_primary_scores as (

    select
        sample_scores.model,
        sample_scores.dataset,
        sample_scores.item_group,
        sample_scores.metric,
        sample_scores.spec_hash,
        sample_scores.value,
        leaderboard.value_min,
        leaderboard.value_max

    from sample_scores
    inner join leaderboard
        on sample_scores.model = leaderboard.model
        and sample_scores.dataset = leaderboard.dataset
        and sample_scores.spec_hash = leaderboard.spec_hash
        and sample_scores.metric = leaderboard.metric
    where sample_scores.item_group is not null
        and sample_scores.value is not null

),

aggregated as (

    select
        model,
        dataset,
        item_group,
        metric,
        spec_hash,
        value_min,
        value_max,
        avg(value) as value,
        count(*) as n,
        bool_and(value in (0, 1)) as is_binary,
        stddev_samp(value) as value_stddev

    from current_primary_scores
    group by model, dataset, item_group, metric, spec_hash, value_min, value_max

),

final as (

    select
        model,
        dataset,
        item_group,
        metric,
        spec_hash,
        value,
        -- binomial standard error for 0/1 scores, standard error of the mean otherwise (NULL for one item)
        case
            when is_binary then sqrt(value * (1 - value) / n)
            else value_stddev / sqrt(n)
        end as stderr,
        n,
        value_min,
        value_max

    from aggregated

)

select * from final
